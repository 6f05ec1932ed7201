#ifndef SINTER_CLZ4_SHIM_H
#define SINTER_CLZ4_SHIM_H
#include <lz4.h>
#endif
