/* The UNet's parameters implied by its config: every (name, shape) the forward pass reads. */
#ifndef TI_UNET_PARAMS_H
#define TI_UNET_PARAMS_H

#include "model_config.h"

typedef tinv_status (*ti_param_fn)(void *user, const char *name, const int64_t *shape, int ndim);

/* Call `fn` for each parameter in a fixed order; stops at the first non-OK status. */
tinv_status ti_unet_params(const ti_unet_config *cfg, ti_param_fn fn, void *user);

#endif
