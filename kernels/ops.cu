/* ops.cu — placeholder; see tirk_ops.h (being written). */
