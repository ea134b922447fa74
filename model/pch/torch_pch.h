// Precompiled: libtorch headers cost ~30 s per translation unit otherwise.
#include <torch/torch.h>
