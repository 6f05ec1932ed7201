// The on-disk spool lands here (Spool.swift, SpoolSegment.swift, SpoolCursor.swift, SpoolFiles.swift).
