# Included right after llama.cpp's project() (CMAKE_PROJECT_llama.cpp_INCLUDE) by
# scripts/install-llama-cpp. llama-cpp-python forces the "common" library on, but its Python
# code only loads libllama and libggml*: skipping common saves about a third of the build.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama.cpp common library (not loaded by llama_cpp)" FORCE)
