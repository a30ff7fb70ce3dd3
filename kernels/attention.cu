/* attention.cu — placeholder; see tirk_attention.h (being written). */
