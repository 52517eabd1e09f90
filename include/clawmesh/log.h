/* Logging to stderr, one line per event; the place that decides logs. Never given secrets. */
#ifndef CLAWMESH_LOG_H
#define CLAWMESH_LOG_H

enum cm_log_level { CM_LOG_DEBUG, CM_LOG_INFO, CM_LOG_WARN, CM_LOG_ERROR };

void cm_log(enum cm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define cm_log_info(...) cm_log(CM_LOG_INFO, __VA_ARGS__)
#define cm_log_warn(...) cm_log(CM_LOG_WARN, __VA_ARGS__)
#define cm_log_error(...) cm_log(CM_LOG_ERROR, __VA_ARGS__)

#endif
