// The threads of the decode kernels (bf16_gemv, decode attention). A decode step runs about 200
// short parallel loops of 0.05-0.5 ms each. libgomp lets its idle workers sleep after a few
// microseconds once a process has more OpenMP threads than cores (here: the thread that loaded
// the model, the vision thread and the decode thread each own a team), and waking a sleeping
// worker took about 80 us per loop on the development machine: a quarter of a one-answer step.
// These workers wait for the next loop by spinning for a short while before they sleep.
#pragma once

#include <cstdint>
#include <functional>

namespace slowfast {

// Splits [begin, end) into at most libtorch's intra-op thread count of contiguous chunks of at
// least `grain` items, as at::parallel_for does, and calls body(chunk_begin, chunk_end) for each:
// the calling thread takes the first chunk, the kernel threads the others. Returns when every
// chunk is done; rethrows the first exception a chunk threw. A call made while another thread's
// loop is running, or from inside a chunk, runs its chunks on the calling thread.
void parallel_chunks(int64_t begin, int64_t end, int64_t grain,
                     const std::function<void(int64_t, int64_t)>& body);

// parallel_chunks() for kernels that serve decode steps and prompts alike, over `rows` rows: up to
// kKernelThreadRows (a decode step's) on the kernel threads; more (a prompt's) on libtorch's
// intra-op threads, which the prompt's matrix products before and after the loop use too. A
// kernel worker spinning after the loop would take a core from those products for up to 1 ms.
constexpr int64_t kKernelThreadRows = 64;
void parallel_rows(int64_t rows, int64_t begin, int64_t end, int64_t grain,
                   const std::function<void(int64_t, int64_t)>& body);

// The calling thread's loop gate: a function that its parallel_chunks() loops, and the decoder
// between layers (pass_loop_gate()), call before they start, and that may wait there for more
// urgent work on other threads. The scheduler's decode thread waits at it while a vision call
// runs, so a frame is encoded on every core within a loop's time instead of sharing them with
// decode steps. An empty function removes it.
void set_loop_gate(std::function<void()> gate);
// Calls the calling thread's loop gate, if it has one.
void pass_loop_gate();

}  // namespace slowfast
