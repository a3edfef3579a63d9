// Tensor handles: creation, scopes that free everything made inside them, and the live counter.
#include "handle.hpp"

#include <algorithm>
#include <atomic>
#include <vector>

#include "../lib/error.h"

namespace {
std::atomic<long> live_count{0};
thread_local std::vector<ts_tensor *> scope_stack; // handles owned by open scopes
thread_local std::vector<size_t> scope_marks;      // stack height at each open scope

void unlink_from_stack(ts_tensor *t)
{
    auto it = std::find(scope_stack.rbegin(), scope_stack.rend(), t);
    if (it != scope_stack.rend())
        scope_stack.erase(std::next(it).base());
    t->scoped = false;
}

void push_scoped(ts_tensor *t)
{
    if (!scope_marks.empty()) {
        scope_stack.push_back(t);
        t->scoped = true;
    }
}
} // namespace

ts_tensor *ts_wrap(at::Tensor t)
{
    ts_tensor *h = new ts_tensor{std::move(t), false};
    live_count.fetch_add(1, std::memory_order_relaxed);
    push_scoped(h);
    return h;
}

extern "C" {

long ts_live_tensors(void) { return live_count.load(std::memory_order_relaxed); }

size_t ts_scope_begin(void)
{
    // The token is the scope's depth: stack heights alone cannot tell apart two
    // scopes opened with nothing created between them.
    scope_marks.push_back(scope_stack.size());
    return scope_marks.size() - 1;
}

void ts_scope_end(size_t depth)
{
    // Close the scope at `depth` and any inner one left open.
    if (depth >= scope_marks.size())
        return;
    size_t height = scope_marks[depth];
    scope_marks.resize(depth);
    while (scope_stack.size() > height) {
        ts_tensor *t = scope_stack.back();
        scope_stack.pop_back();
        delete t;
        live_count.fetch_sub(1, std::memory_order_relaxed);
    }
}

ts_tensor *ts_scope_return(size_t depth, ts_tensor *result)
{
    if (result != nullptr && result->scoped)
        unlink_from_stack(result);
    ts_scope_end(depth);
    if (result != nullptr)
        push_scoped(result);
    return result;
}

ts_tensor *ts_detach(ts_tensor *t)
{
    if (t != nullptr && t->scoped)
        unlink_from_stack(t);
    return t;
}

ts_tensor *ts_adopt(ts_tensor *t)
{
    if (t != nullptr && !t->scoped)
        push_scoped(t);
    return t;
}

void ts_free(ts_tensor *t)
{
    if (t == nullptr)
        return;
    if (t->scoped)
        unlink_from_stack(t);
    delete t;
    live_count.fetch_sub(1, std::memory_order_relaxed);
}

} // extern "C"
