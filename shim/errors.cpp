// Turning C++ exceptions from libtorch into tinv status codes and messages.
#include "handle.hpp"

#include <c10/util/Exception.h>

#include <cstring>
#include <new>
#include <string>

#include "../lib/error.h"

static bool mentions_out_of_memory(const char *msg)
{
    return std::strstr(msg, "out of memory") != nullptr ||
           std::strstr(msg, "DefaultCPUAllocator: can't allocate") != nullptr;
}

void ts_record_exception(const char *op)
{
    try {
        throw;
    } catch (const c10::NotImplementedError &e) {
        ti_error(TINV_ERR_UNSUPPORTED, "libtorch %s: %s", op, e.what_without_backtrace());
    } catch (const c10::Error &e) {
        const char *msg = e.what_without_backtrace();
        ti_error(mentions_out_of_memory(msg) ? TINV_ERR_OUT_OF_MEMORY : TINV_ERR_INVALID_ARGUMENT,
                 "libtorch %s: %s", op, msg);
    } catch (const std::bad_alloc &) {
        ti_error(TINV_ERR_OUT_OF_MEMORY, "libtorch %s: out of memory", op);
    } catch (const std::exception &e) {
        ti_error(mentions_out_of_memory(e.what()) ? TINV_ERR_OUT_OF_MEMORY : TINV_ERR_INTERNAL,
                 "libtorch %s: %s", op, e.what());
    } catch (...) {
        ti_error(TINV_ERR_INTERNAL, "libtorch %s: unknown exception", op);
    }
}

void ts_record_null_input(const char *op)
{
    if (tinv_last_status() == TINV_OK)
        ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: NULL tensor input", op);
}

at::ScalarType ts_scalar_type(ts_dtype dtype)
{
    switch (dtype) {
    case TS_F32: return at::kFloat;
    case TS_F16: return at::kHalf;
    case TS_BF16: return at::kBFloat16;
    case TS_F64: return at::kDouble;
    case TS_I64: return at::kLong;
    case TS_I32: return at::kInt;
    case TS_U8: return at::kByte;
    case TS_BOOL: return at::kBool;
    }
    throw std::invalid_argument("unknown ts_dtype " + std::to_string(static_cast<int>(dtype)));
}

ts_dtype ts_from_scalar_type(at::ScalarType type)
{
    switch (type) {
    case at::kFloat: return TS_F32;
    case at::kHalf: return TS_F16;
    case at::kBFloat16: return TS_BF16;
    case at::kDouble: return TS_F64;
    case at::kLong: return TS_I64;
    case at::kInt: return TS_I32;
    case at::kByte: return TS_U8;
    case at::kBool: return TS_BOOL;
    default: return TS_F32;
    }
}

at::Device ts_at_device(ts_device device)
{
    if (device.type == TS_CUDA)
        return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device.index));
    return at::Device(at::kCPU);
}
