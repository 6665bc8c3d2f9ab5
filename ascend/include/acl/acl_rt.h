/*
 * acl/acl_rt.h -- declaration-only stand-in for the CANN runtime header of the same name
 * (only the subset this project's generated code uses).
 *
 * Transcribed from the public CANN Runtime API reference (github.com/hicann/runtime,
 * snapshot 681ef7610df13c8128982901142a2c869ddbb53e):
 *   docs/zh/api_ref/02_initialization_and_deinitialization.md   aclInit, aclFinalize
 *   docs/zh/api_ref/04_device_management.md                     aclrtSetDevice, aclrtResetDevice,
 *                                                               aclrtGetDeviceCount, aclrtSynchronizeDevice
 *   docs/zh/api_ref/06_stream_management.md                     aclrtCreateStream, aclrtDestroyStream,
 *                                                               aclrtSynchronizeStream
 *   docs/zh/api_ref/11-01_device_memory_malloc_and_free.md      aclrtMalloc, aclrtFree
 *   docs/zh/api_ref/11-02_host_memory_management.md             aclrtMallocHost, aclrtFreeHost
 *   docs/zh/api_ref/11-03_memory_copy_and_set.md                aclrtMemcpy, aclrtMemcpyAsync, aclrtMemset
 *   docs/zh/api_ref/25-02_Enumerations.md                       aclrtMemcpyKind, aclrtMemMallocPolicy
 *   docs/zh/api_ref (error reporting)                           aclGetRecentErrMsg
 *
 * Declarations only: nothing here is implemented or linkable. Builds for a real Ascend
 * machine must use the CANN toolkit's own headers and libraries instead.
 */
#ifndef ASCEND_STUB_ACL_ACL_RT_H
#define ASCEND_STUB_ACL_ACL_RT_H

#include <stdint.h>
#include <stddef.h>
#include "acl/acl_base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum aclrtMemcpyKind {
    ACL_MEMCPY_HOST_TO_HOST,
    ACL_MEMCPY_HOST_TO_DEVICE,
    ACL_MEMCPY_DEVICE_TO_HOST,
    ACL_MEMCPY_DEVICE_TO_DEVICE,
    ACL_MEMCPY_DEFAULT,
    ACL_MEMCPY_HOST_TO_BUF_TO_DEVICE,
    ACL_MEMCPY_INNER_DEVICE_TO_DEVICE,
    ACL_MEMCPY_INTER_DEVICE_TO_DEVICE
} aclrtMemcpyKind;

typedef enum aclrtMemMallocPolicy {
    ACL_MEM_MALLOC_HUGE_FIRST,
    ACL_MEM_MALLOC_HUGE_ONLY,
    ACL_MEM_MALLOC_NORMAL_ONLY,
    ACL_MEM_MALLOC_HUGE_FIRST_P2P,
    ACL_MEM_MALLOC_HUGE_ONLY_P2P,
    ACL_MEM_MALLOC_NORMAL_ONLY_P2P,
    ACL_MEM_MALLOC_HUGE1G_ONLY,
    ACL_MEM_MALLOC_HUGE1G_ONLY_P2P,
    ACL_MEM_TYPE_LOW_BAND_WIDTH        = 0x0100,
    ACL_MEM_TYPE_HIGH_BAND_WIDTH       = 0x1000,
    ACL_MEM_ACCESS_USER_SPACE_READONLY = 0x100000
} aclrtMemMallocPolicy;

/* initialization */
ACL_FUNC_VISIBILITY aclError aclInit(const char *configPath);
ACL_FUNC_VISIBILITY aclError aclFinalize();

/* devices */
ACL_FUNC_VISIBILITY aclError aclrtSetDevice(int32_t deviceId);
ACL_FUNC_VISIBILITY aclError aclrtResetDevice(int32_t deviceId);
ACL_FUNC_VISIBILITY aclError aclrtGetDeviceCount(uint32_t *count);
ACL_FUNC_VISIBILITY aclError aclrtSynchronizeDevice(void);

/* streams */
ACL_FUNC_VISIBILITY aclError aclrtCreateStream(aclrtStream *stream);
ACL_FUNC_VISIBILITY aclError aclrtDestroyStream(aclrtStream stream);
ACL_FUNC_VISIBILITY aclError aclrtSynchronizeStream(aclrtStream stream);

/* memory */
ACL_FUNC_VISIBILITY aclError aclrtMalloc(void **devPtr, size_t size, aclrtMemMallocPolicy policy);
ACL_FUNC_VISIBILITY aclError aclrtFree(void *devPtr);
ACL_FUNC_VISIBILITY aclError aclrtMallocHost(void **hostPtr, size_t size);
ACL_FUNC_VISIBILITY aclError aclrtFreeHost(void *hostPtr);
ACL_FUNC_VISIBILITY aclError aclrtMemcpy(void *dst, size_t destMax, const void *src, size_t count,
                                         aclrtMemcpyKind kind);
ACL_FUNC_VISIBILITY aclError aclrtMemcpyAsync(void *dst, size_t destMax, const void *src, size_t count,
                                              aclrtMemcpyKind kind, aclrtStream stream);
ACL_FUNC_VISIBILITY aclError aclrtMemset(void *devPtr, size_t maxCount, int32_t value, size_t count);

/* error reporting */
ACL_FUNC_VISIBILITY const char *aclGetRecentErrMsg();

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACL_ACL_RT_H */
