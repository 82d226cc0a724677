/*
 * A GPU-less test double of libnvidia-ml.so.1: the part of the NVML C ABI the torpor
 * agent uses, written from the public nvml.h layout. Values come from a scenario file
 * (path in $TORPOR_FAKE_NVML_SCENARIO), a line-based `key=value` text that tests rewrite
 * atomically; it is re-read whenever its inode, size or mtime changes, so a test changes
 * the GPUs over time without restarting the process. The keys: tests/support/nvml_double/
 * scenario.py (tests) and controlplane/providers/local/gpus.py (the local provider).
 *
 * Build variants drop the newest symbols, as an older driver would:
 *   -DNO_V3   no *_RunningProcesses_v3 and no nvmlDeviceGetMemoryInfo_v2
 *   -DNO_V2   no *_RunningProcesses_v2 either (only the v1 entry points remain)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef int nvmlReturn_t;
enum {
    NVML_SUCCESS = 0, NVML_ERROR_UNINITIALIZED = 1, NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3, NVML_ERROR_NO_PERMISSION = 4, NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7, NVML_ERROR_DRIVER_NOT_LOADED = 9, NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_GPU_IS_LOST = 15, NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25, NVML_ERROR_UNKNOWN = 999,
};

/* ---- the structs, laid out as in nvml.h ---- */
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;
#define NVML_STRUCT_VERSION(data, ver) (unsigned int)(sizeof(nvml##data##_v##ver##_t) | ((ver) << 24U))
#define nvmlMemory_v2 NVML_STRUCT_VERSION(Memory, 2)
typedef struct { unsigned int pid; unsigned long long usedGpuMemory; } nvmlProcessInfo_v1_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_v2_t; /* also the v3 entry points' nvmlProcessInfo_t */
typedef union {
    double dVal; unsigned int uiVal; unsigned long ulVal; unsigned long long ullVal;
    signed long long sllVal; signed int siVal; unsigned short usVal;
} nvmlValue_t;
typedef struct { unsigned long long timeStamp; nvmlValue_t sampleValue; } nvmlSample_t;

struct nvmlDevice_st { int gpu; int mig; /* -1: the physical GPU */ };
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType, eventData;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlEventData_t;
struct nvmlEventSet_st { unsigned long long registered[64]; long cursor; };
typedef struct nvmlEventSet_st *nvmlEventSet_t;

size_t fake_nvml_sizeof(const char *name) {
    if (!strcmp(name, "nvmlUtilization_t")) return sizeof(nvmlUtilization_t);
    if (!strcmp(name, "nvmlMemory_t")) return sizeof(nvmlMemory_t);
    if (!strcmp(name, "nvmlMemory_v2_t")) return sizeof(nvmlMemory_v2_t);
    if (!strcmp(name, "nvmlProcessInfo_v1_t")) return sizeof(nvmlProcessInfo_v1_t);
    if (!strcmp(name, "nvmlProcessInfo_v2_t")) return sizeof(nvmlProcessInfo_v2_t);
    if (!strcmp(name, "nvmlSample_t")) return sizeof(nvmlSample_t);
    if (!strcmp(name, "nvmlValue_t")) return sizeof(nvmlValue_t);
    if (!strcmp(name, "nvmlEventData_t")) return sizeof(nvmlEventData_t);
    return 0;
}

/* ---- the scenario ---- */
#define MAX_GPUS 16
#define MAX_MIG 7
#define MAX_LINES 2048
#define LINE_LEN 512

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char lines[MAX_LINES][LINE_LEN];
static int n_lines;
static struct stat loaded;
static char loaded_path[1024];
static int init_count;
static struct nvmlDevice_st devices[MAX_GPUS][MAX_MIG + 1];

static void reload(void) {
    const char *path = getenv("TORPOR_FAKE_NVML_SCENARIO");
    struct stat now;
    if (!path || stat(path, &now) != 0) { n_lines = 0; loaded_path[0] = 0; return; }
    if (!strcmp(path, loaded_path) && now.st_ino == loaded.st_ino && now.st_size == loaded.st_size
        && now.st_mtim.tv_sec == loaded.st_mtim.tv_sec
        && now.st_mtim.tv_nsec == loaded.st_mtim.tv_nsec)
        return;
    FILE *f = fopen(path, "r");
    if (!f) { n_lines = 0; return; }
    n_lines = 0;
    while (n_lines < MAX_LINES && fgets(lines[n_lines], LINE_LEN, f)) {
        char *line = lines[n_lines];
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] && line[0] != '#' && strchr(line, '=')) n_lines++;
    }
    fclose(f);
    loaded = now;
    snprintf(loaded_path, sizeof loaded_path, "%s", path);
}

/* The value of `key`, or NULL. */
static const char *get(const char *key) {
    size_t len = strlen(key);
    for (int i = n_lines - 1; i >= 0; i--)
        if (!strncmp(lines[i], key, len) && lines[i][len] == '=') return lines[i] + len + 1;
    return NULL;
}

static const char *getf(const char *fmt, int a, int b) {
    char key[256];
    snprintf(key, sizeof key, fmt, a, b);
    return get(key);
}

static long long num(const char *value, long long fallback) {
    return value ? strtoll(value, NULL, 10) : fallback;
}

static const struct { const char *name; nvmlReturn_t code; const char *text; } codes[] = {
    {"OK", NVML_SUCCESS, "Success"},
    {"UNINITIALIZED", NVML_ERROR_UNINITIALIZED, "Uninitialized"},
    {"INVALID_ARGUMENT", NVML_ERROR_INVALID_ARGUMENT, "Invalid Argument"},
    {"NOT_SUPPORTED", NVML_ERROR_NOT_SUPPORTED, "Not Supported"},
    {"NO_PERMISSION", NVML_ERROR_NO_PERMISSION, "Insufficient Permissions"},
    {"NOT_FOUND", NVML_ERROR_NOT_FOUND, "Not Found"},
    {"INSUFFICIENT_SIZE", NVML_ERROR_INSUFFICIENT_SIZE, "Insufficient Size"},
    {"DRIVER_NOT_LOADED", NVML_ERROR_DRIVER_NOT_LOADED, "Driver Not Loaded"},
    {"NOT_LOADED", NVML_ERROR_DRIVER_NOT_LOADED, "Driver Not Loaded"},
    {"TIMEOUT", NVML_ERROR_TIMEOUT, "Timeout"},
    {"GPU_IS_LOST", NVML_ERROR_GPU_IS_LOST, "GPU is lost"},
    {"LIB_RM_VERSION_MISMATCH", NVML_ERROR_LIB_RM_VERSION_MISMATCH,
     "RM has detected an NVML/RM version mismatch."},
    {"ARGUMENT_VERSION_MISMATCH", NVML_ERROR_ARGUMENT_VERSION_MISMATCH, "Argument Version Mismatch"},
    {"UNKNOWN", NVML_ERROR_UNKNOWN, "Unknown Error"},
};

static nvmlReturn_t code_of(const char *name) {
    if (!name) return NVML_SUCCESS;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (!strcmp(codes[i].name, name)) return codes[i].code;
    return NVML_ERROR_UNKNOWN;
}

const char *nvmlErrorString(nvmlReturn_t result) {
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == result) return codes[i].text;
    return "Unknown Error";
}

static int gpu_count(void) {
    long long n = num(get("gpu_count"), 0);
    return n < 0 ? 0 : n > MAX_GPUS ? MAX_GPUS : (int)n;
}

/* Every device call starts here: the lock is held on success (callers use the macros). */
static nvmlReturn_t enter(nvmlDevice_t dev, const char *fn) {
    pthread_mutex_lock(&lock);
    reload();
    nvmlReturn_t rc = NVML_SUCCESS;
    char key[256];
    if (!init_count) rc = NVML_ERROR_UNINITIALIZED;
    else if (code_of(get("driver_after_init"))) rc = code_of(get("driver_after_init"));
    else if (dev && (dev < &devices[0][0] || dev > &devices[MAX_GPUS - 1][MAX_MIG]))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    else if (dev && dev->gpu >= gpu_count()) rc = NVML_ERROR_GPU_IS_LOST;
    else if (dev && num(getf("gpu.%d.lost", dev->gpu, 0), 0)) rc = NVML_ERROR_GPU_IS_LOST;
    else {
        snprintf(key, sizeof key, "error.%s", fn);
        rc = code_of(get(key));
        if (!rc && dev) {
            if (dev->mig >= 0)
                snprintf(key, sizeof key, "gpu.%d.mig.%d.error.%s", dev->gpu, dev->mig, fn);
            else
                snprintf(key, sizeof key, "gpu.%d.error.%s", dev->gpu, fn);
            rc = code_of(get(key));
        }
    }
    if (rc) pthread_mutex_unlock(&lock);
    return rc;
}

#define ENTER(dev) do { nvmlReturn_t rc_ = enter((dev), __func__); if (rc_) return rc_; } while (0)
#define LEAVE(rc) do { pthread_mutex_unlock(&lock); return (rc); } while (0)

/* A device's own key: "gpu.0.name" or "gpu.0.mig.1.name". */
static const char *dget(nvmlDevice_t dev, const char *field) {
    char key[256];
    if (dev->mig >= 0) snprintf(key, sizeof key, "gpu.%d.mig.%d.%s", dev->gpu, dev->mig, field);
    else snprintf(key, sizeof key, "gpu.%d.%s", dev->gpu, field);
    return get(key);
}

static nvmlReturn_t copy_string(const char *value, char *out, unsigned int length) {
    if (!out) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(value) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(out, value);
    return NVML_SUCCESS;
}

/* ---- init and system ---- */
nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    pthread_mutex_lock(&lock);
    reload();
    nvmlReturn_t rc = code_of(get("driver"));
    if (!rc) init_count++;
    LEAVE(rc);
}
nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t nvmlShutdown(void) {
    pthread_mutex_lock(&lock);
    if (!init_count) LEAVE(NVML_ERROR_UNINITIALIZED);
    init_count--;
    LEAVE(NVML_SUCCESS);
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    ENTER(NULL);
    const char *v = get("driver_version");
    LEAVE(copy_string(v ? v : "550.54.15", version, length));
}

nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
    ENTER(NULL);
    LEAVE(copy_string("12.550.54.15", version, length));
}

/* ---- devices ---- */
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    ENTER(NULL);
    if (!count) LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    *count = (unsigned int)gpu_count();
    LEAVE(NVML_SUCCESS);
}
nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { return nvmlDeviceGetCount_v2(count); }

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    ENTER(NULL);
    if (!device || index >= (unsigned int)gpu_count()) LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    if (num(getf("gpu.%d.lost", (int)index, 0), 0)) LEAVE(NVML_ERROR_GPU_IS_LOST);
    devices[index][0] = (struct nvmlDevice_st){(int)index, -1};
    *device = &devices[index][0];
    LEAVE(NVML_SUCCESS);
}
nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device) {
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index) {
    ENTER(device);
    *index = (unsigned int)device->gpu;
    LEAVE(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    ENTER(device);
    const char *v = dget(device, "name");
    LEAVE(copy_string(v ? v : "NVIDIA H100 80GB HBM3", name, length));
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    ENTER(device);
    const char *v = dget(device, "uuid");
    char fallback[96];
    if (device->mig >= 0)
        snprintf(fallback, sizeof fallback, "MIG-00000000-0000-0000-%04d-%012d", device->gpu, device->mig);
    else
        snprintf(fallback, sizeof fallback, "GPU-00000000-0000-0000-0000-%012d", device->gpu);
    LEAVE(copy_string(v ? v : fallback, uuid, length));
}

/* ---- utilisation ---- */
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
    ENTER(device);
    if (!utilization) LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    utilization->gpu = (unsigned int)num(dget(device, "util"), 0);
    utilization->memory = (unsigned int)num(dget(device, "mem_util"), 0);
    LEAVE(NVML_SUCCESS);
}

/* `gpu.N.samples=TS:VALUE,TS:VALUE,...` (timestamps in microseconds, increasing). */
nvmlReturn_t nvmlDeviceGetSamples(nvmlDevice_t device, int type, unsigned long long lastSeen,
                                  int *valueType, unsigned int *count, nvmlSample_t *samples) {
    ENTER(device);
    if (!count || !valueType || type != 1 /* NVML_GPU_UTILIZATION_SAMPLES */)
        LEAVE(NVML_ERROR_NOT_SUPPORTED);
    const char *list = dget(device, "samples");
    unsigned int found = 0;
    for (const char *p = list; p && *p;) {
        char *end;
        unsigned long long ts = strtoull(p, &end, 10);
        if (*end != ':') break;
        unsigned int value = (unsigned int)strtoul(end + 1, &end, 10);
        if (ts > lastSeen) {
            if (samples && found < *count) {
                samples[found].timeStamp = ts;
                samples[found].sampleValue.uiVal = value;
            }
            found++;
        }
        p = *end == ',' ? end + 1 : end;
    }
    *valueType = 1; /* NVML_VALUE_TYPE_UNSIGNED_INT */
    if (!found) LEAVE(NVML_ERROR_NOT_FOUND); /* as the real NVML: nothing newer than lastSeen */
    if (samples && found > *count) found = *count;
    *count = found;
    LEAVE(NVML_SUCCESS);
}

/* ---- memory ---- */
static void memory_values(nvmlDevice_t d, unsigned long long *total, unsigned long long *used,
                          unsigned long long *reserved) {
    *total = (unsigned long long)num(dget(d, "mem_total"), 85899345920LL);
    *used = (unsigned long long)num(dget(d, "mem_used"), 0);
    *reserved = (unsigned long long)num(dget(d, "mem_reserved"), 0);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    ENTER(device);
    unsigned long long total, used, reserved;
    memory_values(device, &total, &used, &reserved);
    memory->total = total;
    memory->used = used + reserved; /* v1 counts the driver's reservation as used */
    memory->free = total - memory->used;
    LEAVE(NVML_SUCCESS);
}

#ifndef NO_V3
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
    ENTER(device);
    if (memory->version != nvmlMemory_v2) LEAVE(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
    memory_values(device, &memory->total, &memory->used, &memory->reserved);
    memory->free = memory->total - memory->used - memory->reserved;
    LEAVE(NVML_SUCCESS);
}
#endif

/* ---- processes: `gpu.N.compute=PID:BYTES,...`, the two-call size protocol ---- */
static nvmlReturn_t processes(nvmlDevice_t device, const char *field, unsigned int *count,
                              void *infos, size_t stride) {
    if (!count) LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    unsigned int found = 0, room = *count;
    const char *list = dget(device, field);
    for (const char *p = list; p && *p;) {
        char *end;
        unsigned int pid = (unsigned int)strtoul(p, &end, 10);
        if (*end != ':') break;
        unsigned long long used = strtoull(end + 1, &end, 10);
        if (infos && found < room) {
            char *slot = (char *)infos + found * stride;
            memset(slot, 0, stride);
            ((nvmlProcessInfo_v1_t *)slot)->pid = pid; /* v1 is a prefix of v2 */
            ((nvmlProcessInfo_v1_t *)slot)->usedGpuMemory = used;
            if (stride == sizeof(nvmlProcessInfo_v2_t) && device->mig >= 0)
                ((nvmlProcessInfo_v2_t *)slot)->gpuInstanceId = (unsigned int)device->mig;
        }
        found++;
        p = *end == ',' ? end + 1 : end;
    }
    *count = found;
    if (found > room || (found && !infos)) LEAVE(NVML_ERROR_INSUFFICIENT_SIZE);
    LEAVE(NVML_SUCCESS);
}

#define PROCESS_FUNCTIONS(Kind, field)                                                         \
    nvmlReturn_t nvmlDeviceGet##Kind##RunningProcesses(nvmlDevice_t d, unsigned int *c,         \
                                                       nvmlProcessInfo_v1_t *i) {               \
        ENTER(d);                                                                              \
        return processes(d, field, c, i, sizeof(nvmlProcessInfo_v1_t));                        \
    }                                                                                          \
    V2(nvmlReturn_t nvmlDeviceGet##Kind##RunningProcesses_v2(nvmlDevice_t d, unsigned int *c,   \
                                                             nvmlProcessInfo_v2_t *i) {         \
        ENTER(d);                                                                              \
        return processes(d, field, c, i, sizeof(nvmlProcessInfo_v2_t));                        \
    })                                                                                         \
    V3(nvmlReturn_t nvmlDeviceGet##Kind##RunningProcesses_v3(nvmlDevice_t d, unsigned int *c,   \
                                                             nvmlProcessInfo_v2_t *i) {         \
        ENTER(d);                                                                              \
        return processes(d, field, c, i, sizeof(nvmlProcessInfo_v2_t));                        \
    })

#if defined(NO_V2) || defined(NO_V3)
#define V3(...)
#else
#define V3(...) __VA_ARGS__
#endif
#ifdef NO_V2
#define V2(...)
#else
#define V2(...) __VA_ARGS__
#endif
PROCESS_FUNCTIONS(Compute, "compute")
PROCESS_FUNCTIONS(Graphics, "graphics")

/* ---- temperature, power, energy ---- */
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temp) {
    ENTER(device);
    if (sensor != 0 || !temp) LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    *temp = (unsigned int)num(dget(device, "temp"), 40);
    LEAVE(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *milliwatts) {
    ENTER(device);
    *milliwatts = (unsigned int)num(dget(device, "power_mw"), 70000);
    LEAVE(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *mj) {
    ENTER(device);
    *mj = (unsigned long long)num(dget(device, "energy_mj"), 0);
    LEAVE(NVML_SUCCESS);
}

/* ---- ECC ---- */
nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int errorType, int counterType,
                                         unsigned long long *count) {
    ENTER(device);
    (void)counterType;
    *count = (unsigned long long)num(dget(device, errorType ? "ecc_dbe" : "ecc_sbe"), 0);
    LEAVE(NVML_SUCCESS);
}

/* ---- MIG: `gpu.N.mig_mode=1`, `gpu.N.mig_count=2`, `gpu.N.mig.M.uuid=...` ---- */
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current, unsigned int *pending) {
    ENTER(device);
    *current = *pending = (unsigned int)num(dget(device, "mig_mode"), 0);
    LEAVE(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count) {
    ENTER(device);
    *count = num(dget(device, "mig_mode"), 0) ? MAX_MIG : 0;
    LEAVE(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                 nvmlDevice_t *mig) {
    ENTER(device);
    if (device->mig >= 0 || !num(dget(device, "mig_mode"), 0)) LEAVE(NVML_ERROR_NOT_SUPPORTED);
    if (index >= MAX_MIG) LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    if ((long long)index >= num(dget(device, "mig_count"), 0)) LEAVE(NVML_ERROR_NOT_FOUND);
    devices[device->gpu][index + 1] = (struct nvmlDevice_st){device->gpu, (int)index};
    *mig = &devices[device->gpu][index + 1];
    LEAVE(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMig) {
    ENTER(device);
    *isMig = device->mig >= 0;
    LEAVE(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t mig, nvmlDevice_t *device) {
    ENTER(mig);
    if (mig->mig < 0) LEAVE(NVML_ERROR_INVALID_ARGUMENT);
    *device = &devices[mig->gpu][0];
    LEAVE(NVML_SUCCESS);
}

/* ---- events: `event.K=GPU:TYPE:DATA` for K = 1, 2, ... (a set sees those after its creation) ---- */
static long event_count(void) {
    long k = 0;
    while (getf("event.%d", (int)k + 1, 0)) k++;
    return k;
}

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *types) {
    ENTER(device);
    /* XID, single- and double-bit ECC unless the scenario says otherwise */
    *types = (unsigned long long)num(dget(device, "event_types"), 0x8 | 0x1 | 0x2);
    LEAVE(NVML_SUCCESS);
}

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set) {
    ENTER(NULL);
    *set = calloc(1, sizeof(struct nvmlEventSet_st));
    (*set)->cursor = event_count();
    LEAVE(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types,
                                      nvmlEventSet_t set) {
    ENTER(device);
    if (!set || device->mig >= 0) LEAVE(NVML_ERROR_NOT_SUPPORTED);
    set->registered[device->gpu] |= types;
    LEAVE(NVML_SUCCESS);
}

/* The next registered event after the set's cursor, or 0; the lock is held. */
static int next_event(nvmlEventSet_t set, nvmlEventData_t *data) {
    long count = event_count();
    while (set->cursor < count) {
        const char *spec = getf("event.%d", (int)++set->cursor, 0);
        int gpu = 0;
        unsigned long long type = 0, value = 0;
        if (sscanf(spec, "%d:%llu:%llu", &gpu, &type, &value) != 3) continue;
        if (gpu < 0 || gpu >= MAX_GPUS || !(set->registered[gpu] & type)) continue;
        memset(data, 0, sizeof *data);
        data->device = &devices[gpu][0];
        devices[gpu][0] = (struct nvmlDevice_st){gpu, -1};
        data->eventType = type;
        data->eventData = value;
        data->gpuInstanceId = data->computeInstanceId = 0xFFFFFFFFu;
        return 1;
    }
    return 0;
}

nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms) {
    struct timespec step = {0, 10 * 1000 * 1000};
    for (unsigned int waited = 0;; waited += 10) {
        ENTER(NULL);
        if (next_event(set, data)) LEAVE(NVML_SUCCESS);
        pthread_mutex_unlock(&lock);
        if (waited >= timeoutms) return NVML_ERROR_TIMEOUT;
        nanosleep(&step, NULL);
    }
}
nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms) {
    return nvmlEventSetWait_v2(set, data, timeoutms);
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
    free(set);
    return NVML_SUCCESS;
}
