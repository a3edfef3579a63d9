/* The contents of a tinv_options handle; handles copy it when they are created. */
#ifndef TI_OPTIONS_H
#define TI_OPTIONS_H

#include "log.h"
#include "../shim/shim.h"

struct tinv_options {
    ts_device device;
    char device_name[32];
    tinv_dtype dtype;
    ti_logger logger;
    char config_dir[1024]; /* architecture override for single-file checkpoints; "" = infer */
};

/* Defaults used when a caller passes NULL options. */
void ti_options_defaults(struct tinv_options *opts);

/* Copy `opts` (or the defaults when NULL) into `out`. */
void ti_options_resolve(const tinv_options *opts, struct tinv_options *out);

#endif
