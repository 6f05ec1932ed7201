#ifndef SINTER_CRC32C_H
#define SINTER_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), as used by iSCSI, ext4 and leveldb.
/// `crc` is the running value: pass 0 for a fresh checksum, or a previous result to continue it.
/// Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise; both give the same result.
uint32_t sinter_crc32c_extend(uint32_t crc, const void *data, size_t length);

#endif
