"""Models: the bounded GGUF reader and model file check (gguf/), the architectures llama.cpp loads."""
