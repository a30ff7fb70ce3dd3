# Tests of the generated CUDA kernels (codegen/fuse_*.c, nvrtc.c); included
# from test/CMakeLists.txt.  unit.fuse_cuda checks the fusion rules (in any
# build) and, with the CUDA toolkit, NVRTC compilation and the kernel
# cache; unit.fuse_cuda_corpus compiles every kernel of the lit inputs and
# examples for sm_80 and sm_90.
add_executable(test_fuse_cuda ${CMAKE_CURRENT_LIST_DIR}/test_fuse_cuda.c)
target_link_libraries(test_fuse_cuda tirc_testlib tirc_embed tir_codegen tir_frontend tir_passes tir_ir tirrt)
target_compile_definitions(test_fuse_cuda PRIVATE TIRC_RUNTIME_INCLUDE="${PROJECT_SOURCE_DIR}/runtime"
  TIRC_COMMON_INCLUDE="${PROJECT_SOURCE_DIR}/common")
if(TIRC_HAVE_CUDA)
  target_compile_definitions(test_fuse_cuda PRIVATE TIRC_HAVE_CUDA=1)
endif()
add_test(NAME unit.fuse_cuda COMMAND test_fuse_cuda)
if(TIRC_HAVE_CUDA)
  add_test(NAME unit.fuse_cuda_corpus
    COMMAND test_fuse_cuda --corpus ${PROJECT_SOURCE_DIR}/test/lit ${PROJECT_SOURCE_DIR}/examples)
  if(Python3_FOUND) # examples/gpt2_nanogpt.tir loads the generated bias buffer
    set_tests_properties(unit.fuse_cuda_corpus PROPERTIES FIXTURES_REQUIRED example_weights)
  endif()
endif()
