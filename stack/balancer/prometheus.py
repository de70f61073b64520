"""HAProxy 2.6's Prometheus exporter (``http-request use-service prometheus-exporter``).

Why the same names: dashboards and alerts written for HAProxy's built-in exporter (promex,
addons/promex/service-prometheus.c) query ``haproxy_frontend_*``, ``haproxy_backend_*``,
``haproxy_server_*`` and ``haproxy_process_*`` with the labels ``proxy``, ``server``,
``state`` and ``code``; so the metric names, their order, HELP and TYPE lines come from 2.6.12
(captured), and every value from the same rows ``show stat`` prints (stats.py). Undefined
limits are ``NaN`` as promex writes them; times are seconds.

Query parameters: ``scope=global|frontend|backend|server`` (repeatable; ``*`` or none: all;
an empty value resets) and ``metrics=<name>,...`` to export only those metrics.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from stack.balancer.stats import FIELD_NAMES, PRODUCT_VERSION, Row, StatsSource, row_type
from stack.http.message import Request

__all__ = ["CONTENT_TYPE", "METRICS", "answer", "render"]

CONTENT_TYPE = b"text/plain; version=0.0.4"

# (name, type, help) in the order HAProxy 2.6.12 writes them.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("haproxy_process_nbthread", "gauge", "Number of started threads (global.nbthread)"),
    (
        "haproxy_process_nbproc",
        "gauge",
        "Number of started worker processes (historical, always 1)",
    ),
    ("haproxy_process_relative_process_id", "gauge", "Relative worker process number (1)"),
    (
        "haproxy_process_uptime_seconds",
        "gauge",
        "How long ago this worker process was started (seconds)",
    ),
    (
        "haproxy_process_pool_failures_total",
        "counter",
        "Number of failed pool allocations since this worker was started",
    ),
    (
        "haproxy_process_max_fds",
        "gauge",
        "Hard limit on the number of per-process file descriptors",
    ),
    ("haproxy_process_max_sockets", "gauge", "Hard limit on the number of per-process sockets"),
    (
        "haproxy_process_max_connections",
        "gauge",
        "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)",
    ),
    (
        "haproxy_process_hard_max_connections",
        "gauge",
        "Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)",
    ),
    (
        "haproxy_process_current_connections",
        "gauge",
        "Current number of connections on this worker process",
    ),
    (
        "haproxy_process_connections_total",
        "counter",
        "Total number of connections on this worker process since started",
    ),
    (
        "haproxy_process_requests_total",
        "counter",
        "Total number of requests on this worker process since started",
    ),
    (
        "haproxy_process_max_ssl_connections",
        "gauge",
        "Hard limit on the number of per-process SSL endpoints (front+back), 0=unlimited",
    ),
    (
        "haproxy_process_current_ssl_connections",
        "gauge",
        "Current number of SSL endpoints on this worker process (front+back)",
    ),
    (
        "haproxy_process_ssl_connections_total",
        "counter",
        "Total number of SSL endpoints on this worker process since started (front+back)",
    ),
    (
        "haproxy_process_max_pipes",
        "gauge",
        "Hard limit on the number of pipes for splicing, 0=unlimited",
    ),
    (
        "haproxy_process_pipes_used_total",
        "counter",
        "Current number of pipes in use in this worker process",
    ),
    (
        "haproxy_process_pipes_free_total",
        "counter",
        "Current number of allocated and available pipes in this worker process",
    ),
    (
        "haproxy_process_current_connection_rate",
        "gauge",
        "Number of front connections created on this worker process over the last second",
    ),
    (
        "haproxy_process_limit_connection_rate",
        "gauge",
        "Hard limit for ConnRate (global.maxconnrate)",
    ),
    (
        "haproxy_process_max_connection_rate",
        "gauge",
        "Highest ConnRate reached on this worker process since started (in connections per second)",
    ),
    (
        "haproxy_process_current_session_rate",
        "gauge",
        "Number of sessions created on this worker process over the last second",
    ),
    ("haproxy_process_limit_session_rate", "gauge", "Hard limit for SessRate (global.maxsessrate)"),
    (
        "haproxy_process_max_session_rate",
        "gauge",
        "Highest SessRate reached on this worker process since started (in sessions per second)",
    ),
    (
        "haproxy_process_current_ssl_rate",
        "gauge",
        "Number of SSL connections created on this worker process over the last second",
    ),
    ("haproxy_process_limit_ssl_rate", "gauge", "Hard limit for SslRate (global.maxsslrate)"),
    (
        "haproxy_process_max_ssl_rate",
        "gauge",
        "Highest SslRate reached on this worker process since started (in connections per second)",
    ),
    (
        "haproxy_process_current_frontend_ssl_key_rate",
        "gauge",
        "Number of SSL keys created on frontends in this worker process over the last second",
    ),
    (
        "haproxy_process_max_frontend_ssl_key_rate",
        "gauge",
        "Highest SslFrontendKeyRate reached on this worker process since started (in SSL keys per second)",  # noqa: E501
    ),
    (
        "haproxy_process_frontend_ssl_reuse",
        "gauge",
        "Percent of frontend SSL connections which did not require a new key",
    ),
    (
        "haproxy_process_current_backend_ssl_key_rate",
        "gauge",
        "Number of SSL keys created on backends in this worker process over the last second",
    ),
    (
        "haproxy_process_max_backend_ssl_key_rate",
        "gauge",
        "Highest SslBackendKeyRate reached on this worker process since started (in SSL keys per second)",  # noqa: E501
    ),
    (
        "haproxy_process_ssl_cache_lookups_total",
        "counter",
        "Total number of SSL session ID lookups in the SSL session cache on this worker since started",  # noqa: E501
    ),
    (
        "haproxy_process_ssl_cache_misses_total",
        "counter",
        "Total number of SSL session ID lookups that didn't find a session in the SSL session cache on this worker since started",  # noqa: E501
    ),
    (
        "haproxy_process_http_comp_bytes_in_total",
        "counter",
        "Number of bytes submitted to the HTTP compressor in this worker process over the last second",  # noqa: E501
    ),
    (
        "haproxy_process_http_comp_bytes_out_total",
        "counter",
        "Number of bytes emitted by the HTTP compressor in this worker process over the last second",  # noqa: E501
    ),
    (
        "haproxy_process_limit_http_comp",
        "gauge",
        "Limit of CompressBpsOut beyond which HTTP compression is automatically disabled",
    ),
    (
        "haproxy_process_current_zlib_memory",
        "gauge",
        "Amount of memory currently used by HTTP compression on the current worker process (in bytes)",  # noqa: E501
    ),
    (
        "haproxy_process_max_zlib_memory",
        "gauge",
        "Limit on the amount of memory used by HTTP compression above which it is automatically disabled (in bytes, see global.maxzlibmem)",  # noqa: E501
    ),
    (
        "haproxy_process_current_tasks",
        "gauge",
        "Total number of tasks in the current worker process (active + sleeping)",
    ),
    (
        "haproxy_process_current_run_queue",
        "gauge",
        "Total number of active tasks+tasklets in the current worker process",
    ),
    (
        "haproxy_process_idle_time_percent",
        "gauge",
        "Percentage of last second spent waiting in the current worker thread",
    ),
    (
        "haproxy_process_stopping",
        "gauge",
        "1 if the worker process is currently stopping, otherwise zero",
    ),
    (
        "haproxy_process_jobs",
        "gauge",
        "Current number of active jobs on the current worker process (frontend connections, master connections, listeners)",  # noqa: E501
    ),
    (
        "haproxy_process_unstoppable_jobs",
        "gauge",
        "Current number of unstoppable jobs on the current worker process (master connections)",
    ),
    (
        "haproxy_process_listeners",
        "gauge",
        "Current number of active listeners on the current worker process",
    ),
    (
        "haproxy_process_active_peers",
        "gauge",
        "Current number of verified active peers connections on the current worker process",
    ),
    (
        "haproxy_process_connected_peers",
        "gauge",
        "Current number of peers having passed the connection step on the current worker process",
    ),
    (
        "haproxy_process_dropped_logs_total",
        "counter",
        "Total number of dropped logs for current worker process since started",
    ),
    (
        "haproxy_process_busy_polling_enabled",
        "gauge",
        "1 if busy-polling is currently in use on the worker process, otherwise zero (config.busy-polling)",  # noqa: E501
    ),
    (
        "haproxy_process_failed_resolutions",
        "counter",
        "Total number of failed DNS resolutions in current worker process since started",
    ),
    (
        "haproxy_process_bytes_out_total",
        "counter",
        "Total number of bytes emitted by current worker process since started",
    ),
    (
        "haproxy_process_spliced_bytes_out_total",
        "counter",
        "Total number of bytes emitted by current worker process through a kernel pipe since started",  # noqa: E501
    ),
    (
        "haproxy_process_bytes_out_rate",
        "gauge",
        "Number of bytes emitted by current worker process over the last second",
    ),
    (
        "haproxy_process_recv_logs_total",
        "counter",
        "Total number of log messages received by log-forwarding listeners on this worker process since started",  # noqa: E501
    ),
    ("haproxy_process_build_info", "gauge", "Build info"),
    (
        "haproxy_process_max_memory_bytes",
        "gauge",
        "Worker process's hard limit on memory usage in byes (-m on command line)",
    ),
    (
        "haproxy_process_pool_allocated_bytes",
        "gauge",
        "Amount of memory allocated in pools (in bytes)",
    ),
    ("haproxy_process_pool_used_bytes", "gauge", "Amount of pool memory currently used (in bytes)"),
    ("haproxy_process_start_time_seconds", "gauge", "Start time in seconds"),
    (
        "haproxy_frontend_current_sessions",
        "gauge",
        "Number of current sessions on the frontend, backend or server",
    ),
    (
        "haproxy_frontend_max_sessions",
        "gauge",
        "Highest value of current sessions encountered since process started",
    ),
    (
        "haproxy_frontend_limit_sessions",
        "gauge",
        "Frontend/listener/server's maxconn, backend's fullconn",
    ),
    (
        "haproxy_frontend_sessions_total",
        "counter",
        "Total number of sessions since process started",
    ),
    (
        "haproxy_frontend_bytes_in_total",
        "counter",
        "Total number of request bytes since process started",
    ),
    (
        "haproxy_frontend_bytes_out_total",
        "counter",
        "Total number of response bytes since process started",
    ),
    (
        "haproxy_frontend_requests_denied_total",
        "counter",
        "Total number of denied requests since process started",
    ),
    (
        "haproxy_frontend_responses_denied_total",
        "counter",
        "Total number of denied responses since process started",
    ),
    (
        "haproxy_frontend_request_errors_total",
        "counter",
        "Total number of invalid requests since process started",
    ),
    ("haproxy_frontend_status", "gauge", "Current status of the service, per state label value."),
    (
        "haproxy_frontend_limit_session_rate",
        "gauge",
        "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)",  # noqa: E501
    ),
    (
        "haproxy_frontend_max_session_rate",
        "gauge",
        "Highest value of sessions per second observed since the worker process started",
    ),
    (
        "haproxy_frontend_http_responses_total",
        "counter",
        "Total number of HTTP responses with status 100-199 returned by this object since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_frontend_http_requests_rate_max",
        "gauge",
        "Highest value of http requests observed since the worker process started",
    ),
    (
        "haproxy_frontend_http_requests_total",
        "counter",
        "Total number of HTTP requests processed by this object since the worker process started",
    ),
    (
        "haproxy_frontend_http_comp_bytes_in_total",
        "counter",
        "Total number of bytes submitted to the HTTP compressor for this object since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_frontend_http_comp_bytes_out_total",
        "counter",
        "Total number of bytes emitted by the HTTP compressor for this object since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_frontend_http_comp_bytes_bypassed_total",
        "counter",
        "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)",  # noqa: E501
    ),
    (
        "haproxy_frontend_http_comp_responses_total",
        "counter",
        "Total number of HTTP responses that were compressed for this object since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_frontend_connections_rate_max",
        "gauge",
        "Highest value of connections per second observed since the worker process started",
    ),
    (
        "haproxy_frontend_connections_total",
        "counter",
        "Total number of new connections accepted on this frontend since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_frontend_intercepted_requests_total",
        "counter",
        "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_frontend_denied_connections_total",
        "counter",
        "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_frontend_denied_sessions_total",
        "counter",
        "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_frontend_failed_header_rewriting_total",
        "counter",
        "Total number of failed HTTP header rewrites since the worker process started",
    ),
    (
        "haproxy_frontend_http_cache_lookups_total",
        "counter",
        "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_frontend_http_cache_hits_total",
        "counter",
        "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_frontend_internal_errors_total",
        "counter",
        "Total number of internal errors since process started",
    ),
    ("haproxy_backend_current_queue", "gauge", "Number of current queued connections"),
    (
        "haproxy_backend_max_queue",
        "gauge",
        "Highest value of queued connections encountered since process started",
    ),
    (
        "haproxy_backend_current_sessions",
        "gauge",
        "Number of current sessions on the frontend, backend or server",
    ),
    (
        "haproxy_backend_max_sessions",
        "gauge",
        "Highest value of current sessions encountered since process started",
    ),
    (
        "haproxy_backend_limit_sessions",
        "gauge",
        "Frontend/listener/server's maxconn, backend's fullconn",
    ),
    ("haproxy_backend_sessions_total", "counter", "Total number of sessions since process started"),
    (
        "haproxy_backend_bytes_in_total",
        "counter",
        "Total number of request bytes since process started",
    ),
    (
        "haproxy_backend_bytes_out_total",
        "counter",
        "Total number of response bytes since process started",
    ),
    (
        "haproxy_backend_requests_denied_total",
        "counter",
        "Total number of denied requests since process started",
    ),
    (
        "haproxy_backend_responses_denied_total",
        "counter",
        "Total number of denied responses since process started",
    ),
    (
        "haproxy_backend_connection_errors_total",
        "counter",
        "Total number of failed connections to server since the worker process started",
    ),
    (
        "haproxy_backend_response_errors_total",
        "counter",
        "Total number of invalid responses since the worker process started",
    ),
    (
        "haproxy_backend_retry_warnings_total",
        "counter",
        "Total number of server connection retries since the worker process started",
    ),
    (
        "haproxy_backend_redispatch_warnings_total",
        "counter",
        "Total number of server redispatches due to connection failures since the worker process started",  # noqa: E501
    ),
    ("haproxy_backend_status", "gauge", "Current status of the service, per state label value."),
    (
        "haproxy_backend_weight",
        "gauge",
        "Server's effective weight, or sum of active servers' effective weights for a backend",
    ),
    (
        "haproxy_backend_active_servers",
        "gauge",
        "Total number of active UP servers with a non-zero weight",
    ),
    (
        "haproxy_backend_backup_servers",
        "gauge",
        "Total number of backup UP servers with a non-zero weight",
    ),
    (
        "haproxy_backend_check_up_down_total",
        "counter",
        "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_backend_check_last_change_seconds",
        "gauge",
        "How long ago the last server state changed, in seconds",
    ),
    (
        "haproxy_backend_downtime_seconds_total",
        "counter",
        "Total time spent in DOWN state, for server or backend",
    ),
    (
        "haproxy_backend_loadbalanced_total",
        "counter",
        "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)",  # noqa: E501
    ),
    (
        "haproxy_backend_max_session_rate",
        "gauge",
        "Highest value of sessions per second observed since the worker process started",
    ),
    (
        "haproxy_backend_http_responses_total",
        "counter",
        "Total number of HTTP responses with status 100-199 returned by this object since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_backend_http_requests_total",
        "counter",
        "Total number of HTTP requests processed by this object since the worker process started",
    ),
    (
        "haproxy_backend_client_aborts_total",
        "counter",
        "Total number of requests or connections aborted by the client since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_backend_server_aborts_total",
        "counter",
        "Total number of requests or connections aborted by the server since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_backend_http_comp_bytes_in_total",
        "counter",
        "Total number of bytes submitted to the HTTP compressor for this object since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_backend_http_comp_bytes_out_total",
        "counter",
        "Total number of bytes emitted by the HTTP compressor for this object since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_backend_http_comp_bytes_bypassed_total",
        "counter",
        "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)",  # noqa: E501
    ),
    (
        "haproxy_backend_http_comp_responses_total",
        "counter",
        "Total number of HTTP responses that were compressed for this object since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_backend_last_session_seconds",
        "gauge",
        "How long ago some traffic was seen on this object on this worker process, in seconds",
    ),
    (
        "haproxy_backend_queue_time_average_seconds",
        "gauge",
        "Avg. queue time for last 1024 successful connections.",
    ),
    (
        "haproxy_backend_connect_time_average_seconds",
        "gauge",
        "Avg. connect time for last 1024 successful connections.",
    ),
    (
        "haproxy_backend_response_time_average_seconds",
        "gauge",
        "Avg. response time for last 1024 successful connections.",
    ),
    (
        "haproxy_backend_total_time_average_seconds",
        "gauge",
        "Avg. total time for last 1024 successful connections.",
    ),
    (
        "haproxy_backend_failed_header_rewriting_total",
        "counter",
        "Total number of failed HTTP header rewrites since the worker process started",
    ),
    (
        "haproxy_backend_connection_attempts_total",
        "counter",
        "Total number of outgoing connection attempts on this backend/server since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_backend_connection_reuses_total",
        "counter",
        "Total number of reused connection on this backend/server since the worker process started",
    ),
    (
        "haproxy_backend_http_cache_lookups_total",
        "counter",
        "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_backend_http_cache_hits_total",
        "counter",
        "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started",  # noqa: E501
    ),
    ("haproxy_backend_max_queue_time_seconds", "gauge", "Maximum observed time spent in the queue"),
    (
        "haproxy_backend_max_connect_time_seconds",
        "gauge",
        "Maximum observed time spent waiting for a connection to complete",
    ),
    (
        "haproxy_backend_max_response_time_seconds",
        "gauge",
        "Maximum observed time spent waiting for a server response",
    ),
    (
        "haproxy_backend_max_total_time_seconds",
        "gauge",
        "Maximum observed total request+response time (request+queue+connect+response+processing)",
    ),
    (
        "haproxy_backend_internal_errors_total",
        "counter",
        "Total number of internal errors since process started",
    ),
    (
        "haproxy_backend_uweight",
        "gauge",
        "Server's user weight, or sum of active servers' user weights for a backend",
    ),
    ("haproxy_backend_agg_server_status", "gauge", "Backend's aggregated gauge of servers' status"),
    (
        "haproxy_backend_agg_server_check_status",
        "gauge",
        "Backend's aggregated gauge of servers' state check status",
    ),
    (
        "haproxy_backend_agg_check_status",
        "gauge",
        "Backend's aggregated gauge of servers' state check status",
    ),
    ("haproxy_server_current_queue", "gauge", "Number of current queued connections"),
    (
        "haproxy_server_max_queue",
        "gauge",
        "Highest value of queued connections encountered since process started",
    ),
    (
        "haproxy_server_current_sessions",
        "gauge",
        "Number of current sessions on the frontend, backend or server",
    ),
    (
        "haproxy_server_max_sessions",
        "gauge",
        "Highest value of current sessions encountered since process started",
    ),
    (
        "haproxy_server_limit_sessions",
        "gauge",
        "Frontend/listener/server's maxconn, backend's fullconn",
    ),
    ("haproxy_server_sessions_total", "counter", "Total number of sessions since process started"),
    (
        "haproxy_server_bytes_in_total",
        "counter",
        "Total number of request bytes since process started",
    ),
    (
        "haproxy_server_bytes_out_total",
        "counter",
        "Total number of response bytes since process started",
    ),
    (
        "haproxy_server_responses_denied_total",
        "counter",
        "Total number of denied responses since process started",
    ),
    (
        "haproxy_server_connection_errors_total",
        "counter",
        "Total number of failed connections to server since the worker process started",
    ),
    (
        "haproxy_server_response_errors_total",
        "counter",
        "Total number of invalid responses since the worker process started",
    ),
    (
        "haproxy_server_retry_warnings_total",
        "counter",
        "Total number of server connection retries since the worker process started",
    ),
    (
        "haproxy_server_redispatch_warnings_total",
        "counter",
        "Total number of server redispatches due to connection failures since the worker process started",  # noqa: E501
    ),
    ("haproxy_server_status", "gauge", "Current status of the service, per state label value."),
    (
        "haproxy_server_weight",
        "gauge",
        "Server's effective weight, or sum of active servers' effective weights for a backend",
    ),
    (
        "haproxy_server_check_failures_total",
        "counter",
        "Total number of failed individual health checks per server/backend, since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_server_check_up_down_total",
        "counter",
        "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_server_check_last_change_seconds",
        "gauge",
        "How long ago the last server state changed, in seconds",
    ),
    (
        "haproxy_server_downtime_seconds_total",
        "counter",
        "Total time spent in DOWN state, for server or backend",
    ),
    (
        "haproxy_server_queue_limit",
        "gauge",
        "Limit on the number of connections in queue, for servers only (maxqueue argument)",
    ),
    (
        "haproxy_server_current_throttle",
        "gauge",
        "Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%)",  # noqa: E501
    ),
    (
        "haproxy_server_loadbalanced_total",
        "counter",
        "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)",  # noqa: E501
    ),
    (
        "haproxy_server_max_session_rate",
        "gauge",
        "Highest value of sessions per second observed since the worker process started",
    ),
    ("haproxy_server_check_status", "gauge", "Status of last health check, per state label value."),
    ("haproxy_server_check_code", "gauge", "layer5-7 code, if available of the last health check."),
    (
        "haproxy_server_check_duration_seconds",
        "gauge",
        "Total duration of the latest server health check, in seconds.",
    ),
    (
        "haproxy_server_http_responses_total",
        "counter",
        "Total number of HTTP responses with status 100-199 returned by this object since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_server_client_aborts_total",
        "counter",
        "Total number of requests or connections aborted by the client since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_server_server_aborts_total",
        "counter",
        "Total number of requests or connections aborted by the server since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_server_last_session_seconds",
        "gauge",
        "How long ago some traffic was seen on this object on this worker process, in seconds",
    ),
    (
        "haproxy_server_queue_time_average_seconds",
        "gauge",
        "Avg. queue time for last 1024 successful connections.",
    ),
    (
        "haproxy_server_connect_time_average_seconds",
        "gauge",
        "Avg. connect time for last 1024 successful connections.",
    ),
    (
        "haproxy_server_response_time_average_seconds",
        "gauge",
        "Avg. response time for last 1024 successful connections.",
    ),
    (
        "haproxy_server_total_time_average_seconds",
        "gauge",
        "Avg. total time for last 1024 successful connections.",
    ),
    (
        "haproxy_server_failed_header_rewriting_total",
        "counter",
        "Total number of failed HTTP header rewrites since the worker process started",
    ),
    (
        "haproxy_server_connection_attempts_total",
        "counter",
        "Total number of outgoing connection attempts on this backend/server since the worker process started",  # noqa: E501
    ),
    (
        "haproxy_server_connection_reuses_total",
        "counter",
        "Total number of reused connection on this backend/server since the worker process started",
    ),
    (
        "haproxy_server_idle_connections_current",
        "gauge",
        "Current number of idle connections available for reuse on this server",
    ),
    (
        "haproxy_server_idle_connections_limit",
        "gauge",
        "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)",  # noqa: E501
    ),
    ("haproxy_server_max_queue_time_seconds", "gauge", "Maximum observed time spent in the queue"),
    (
        "haproxy_server_max_connect_time_seconds",
        "gauge",
        "Maximum observed time spent waiting for a connection to complete",
    ),
    (
        "haproxy_server_max_response_time_seconds",
        "gauge",
        "Maximum observed time spent waiting for a server response",
    ),
    (
        "haproxy_server_max_total_time_seconds",
        "gauge",
        "Maximum observed total request+response time (request+queue+connect+response+processing)",
    ),
    (
        "haproxy_server_internal_errors_total",
        "counter",
        "Total number of internal errors since process started",
    ),
    (
        "haproxy_server_unsafe_idle_connections_current",
        "gauge",
        "Current number of unsafe idle connections",
    ),
    (
        "haproxy_server_safe_idle_connections_current",
        "gauge",
        "Current number of safe idle connections",
    ),
    ("haproxy_server_used_connections_current", "gauge", "Current number of connections in use"),
    ("haproxy_server_need_connections_current", "gauge", "Estimated needed number of connections"),
    (
        "haproxy_server_uweight",
        "gauge",
        "Server's user weight, or sum of active servers' user weights for a backend",
    ),
)

# promex's metric suffix -> the stats column it reads
_FIELD = {
    "current_queue": "qcur",
    "max_queue": "qmax",
    "current_sessions": "scur",
    "max_sessions": "smax",
    "limit_sessions": "slim",
    "sessions_total": "stot",
    "bytes_in_total": "bin",
    "bytes_out_total": "bout",
    "requests_denied_total": "dreq",
    "responses_denied_total": "dresp",
    "request_errors_total": "ereq",
    "connection_errors_total": "econ",
    "response_errors_total": "eresp",
    "retry_warnings_total": "wretr",
    "redispatch_warnings_total": "wredis",
    "weight": "weight",
    "active_servers": "act",
    "backup_servers": "bck",
    "check_failures_total": "chkfail",
    "check_up_down_total": "chkdown",
    "check_last_change_seconds": "lastchg",
    "downtime_seconds_total": "downtime",
    "queue_limit": "qlimit",
    "current_throttle": "throttle",
    "loadbalanced_total": "lbtot",
    "limit_session_rate": "rate_lim",
    "max_session_rate": "rate_max",
    "check_code": "check_code",
    "check_duration_seconds": "check_duration",
    "http_requests_rate_max": "req_rate_max",
    "http_requests_total": "req_tot",
    "client_aborts_total": "cli_abrt",
    "server_aborts_total": "srv_abrt",
    "http_comp_bytes_in_total": "comp_in",
    "http_comp_bytes_out_total": "comp_out",
    "http_comp_bytes_bypassed_total": "comp_byp",
    "http_comp_responses_total": "comp_rsp",
    "last_session_seconds": "lastsess",
    "queue_time_average_seconds": "qtime",
    "connect_time_average_seconds": "ctime",
    "response_time_average_seconds": "rtime",
    "total_time_average_seconds": "ttime",
    "connections_rate_max": "conn_rate_max",
    "connections_total": "conn_tot",
    "intercepted_requests_total": "intercepted",
    "denied_connections_total": "dcon",
    "denied_sessions_total": "dses",
    "failed_header_rewriting_total": "wrew",
    "connection_attempts_total": "connect",
    "connection_reuses_total": "reuse",
    "http_cache_lookups_total": "cache_lookups",
    "http_cache_hits_total": "cache_hits",
    "idle_connections_current": "srv_icur",
    "idle_connections_limit": "src_ilim",
    "max_queue_time_seconds": "qtime_max",
    "max_connect_time_seconds": "ctime_max",
    "max_response_time_seconds": "rtime_max",
    "max_total_time_seconds": "ttime_max",
    "internal_errors_total": "eint",
    "unsafe_idle_connections_current": "idle_conn_cur",
    "safe_idle_connections_current": "safe_conn_cur",
    "used_connections_current": "used_conn_cur",
    "need_connections_current": "need_conn_est",
    "uweight": "uweight",
}
_MS = frozenset(
    [
        "qtime",
        "ctime",
        "rtime",
        "ttime",
        "qtime_max",
        "ctime_max",
        "rtime_max",
        "ttime_max",
        "check_duration",
    ]
)
# show info field -> promex process metric suffix
_INFO = {
    "nbthread": "Nbthread",
    "nbproc": "Nbproc",
    "relative_process_id": "Process_num",
    "uptime_seconds": "Uptime_sec",
    "start_time_seconds": "Start_time_sec",
    "max_memory_bytes": "Memmax_bytes",
    "pool_allocated_bytes": "PoolAlloc_bytes",
    "pool_used_bytes": "PoolUsed_bytes",
    "pool_failures_total": "PoolFailed",
    "max_fds": "Ulimit-n",
    "max_sockets": "Maxsock",
    "max_connections": "Maxconn",
    "hard_max_connections": "Hard_maxconn",
    "current_connections": "CurrConns",
    "connections_total": "CumConns",
    "requests_total": "CumReq",
    "max_ssl_connections": "MaxSslConns",
    "current_ssl_connections": "CurrSslConns",
    "ssl_connections_total": "CumSslConns",
    "max_pipes": "Maxpipes",
    "pipes_used_total": "PipesUsed",
    "pipes_free_total": "PipesFree",
    "current_connection_rate": "ConnRate",
    "limit_connection_rate": "ConnRateLimit",
    "max_connection_rate": "MaxConnRate",
    "current_session_rate": "SessRate",
    "limit_session_rate": "SessRateLimit",
    "max_session_rate": "MaxSessRate",
    "current_ssl_rate": "SslRate",
    "limit_ssl_rate": "SslRateLimit",
    "max_ssl_rate": "MaxSslRate",
    "current_frontend_ssl_key_rate": "SslFrontendKeyRate",
    "max_frontend_ssl_key_rate": "SslFrontendMaxKeyRate",
    "frontend_ssl_reuse": "SslFrontendSessionReuse_pct",
    "current_backend_ssl_key_rate": "SslBackendKeyRate",
    "max_backend_ssl_key_rate": "SslBackendMaxKeyRate",
    "ssl_cache_lookups_total": "SslCacheLookups",
    "ssl_cache_misses_total": "SslCacheMisses",
    "http_comp_bytes_in_total": "CompressBpsIn",
    "http_comp_bytes_out_total": "CompressBpsOut",
    "limit_http_comp": "CompressBpsRateLim",
    "current_tasks": "Tasks",
    "current_run_queue": "Run_queue",
    "idle_time_percent": "Idle_pct",
    "stopping": "Stopping",
    "jobs": "Jobs",
    "unstoppable_jobs": "Unstoppable Jobs",
    "listeners": "Listeners",
    "active_peers": "ActivePeers",
    "connected_peers": "ConnectedPeers",
    "dropped_logs_total": "DroppedLogs",
    "busy_polling_enabled": "BusyPolling",
    "failed_resolutions": "FailedResolutions",
    "bytes_out_total": "TotalBytesOut",
    "spliced_bytes_out_total": "TotalSplicdedBytesOut",
    "bytes_out_rate": "BytesOutRate",
    "recv_logs_total": "CumRecvLogs",
}
_POS = {name: i for i, name in enumerate(FIELD_NAMES)}
_SRV_STATES = ("DOWN", "UP", "MAINT", "DRAIN", "NOLB")
_CHECK_STATES = [
    "HANA",
    "SOCKERR",
    "L4OK",
    "L4TOUT",
    "L4CON",
    "L6OK",
    "L6TOUT",
    "L6RSP",
    "L7TOUT",
    "L7RSP",
    "L7OK",
    "L7OKC",
    "L7STS",
    "PROCERR",
    "PROCTOUT",
    "PROCOK",
]
_CODES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")
_SCOPES = ("global", "frontend", "backend", "server")


def _number(value: object) -> str:
    return str(value)


def _seconds(ms: object) -> str:
    return f"{int(ms) / 1000:f}"  # type: ignore[call-overload]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _srv_state(status: str) -> str:
    for state in ("MAINT", "DRAIN", "NOLB"):
        if status.startswith(state):
            return state
    return "UP" if status.startswith("UP") or status == "no check" else "DOWN"


def render(
    source: StatsSource, scopes: set[str] | None = None, only: set[str] | None = None
) -> str:
    """The exposition text for ``scopes`` (None: all) and ``only`` these metric names."""
    now = source.now()
    rows = source.rows(now=now)
    fronts = [r for r in rows if row_type(r) == 0]
    backs = [r for r in rows if row_type(r) == 1]
    servers = [r for r in rows if row_type(r) == 2]
    info = {name: field for _pos, name, field in source.info(now)}
    out: list[str] = []
    for name, kind, help_text in METRICS:
        scope, _, suffix = name[len("haproxy_") :].partition("_")
        scope_name = {"process": "global"}.get(scope, scope)
        if scopes is not None and scope_name not in scopes:
            continue
        if only is not None and name not in only:
            continue
        samples = _samples(scope, suffix, fronts, backs, servers, info)
        if not samples:  # promex writes no HELP/TYPE for a metric without a sample
            continue
        out.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
        out.extend(f"{name}{labels} {value}\n" for labels, value in samples)
    return "".join(out)


def _samples(
    scope: str,
    suffix: str,
    fronts: list[Row],
    backs: list[Row],
    servers: list[Row],
    info: dict[str, tuple[str, str, object]],
) -> list[tuple[str, str]] | None:
    if scope == "process":
        if suffix == "build_info":
            return [(f'{{version="{_label(PRODUCT_VERSION)}"}}', "1")]
        key = _INFO.get(suffix)
        if key is None or key not in info:
            return None
        return [("", _number(info[key][2]))]
    rows = {"frontend": fronts, "backend": backs, "server": servers}[scope]
    samples: list[tuple[str, str]] = []
    if suffix == "http_responses_total":
        for i, code in enumerate(_CODES):
            for row in rows:
                field = row[_POS["hrsp_1xx"] + i]
                if field is not None:
                    samples.append((f'{{{_labels(row, scope)},code="{code}"}}', str(field[2])))
        return samples
    if suffix == "status":
        for row in rows:
            status = str(row[_POS["status"]][2])  # type: ignore[index]
            if scope == "server":
                current = _srv_state(status)
                states: tuple[str, ...] = _SRV_STATES
            else:
                current = "UP" if status.startswith(("UP", "OPEN")) else "DOWN"
                states = ("DOWN", "UP")
            for state in states:
                value = "1" if state == current else "0"
                samples.append((f'{{{_labels(row, scope)},state="{state}"}}', value))
        return samples
    if suffix == "check_status":
        for row in rows:
            field = row[_POS["check_status"]]
            if field is None:
                continue
            for state in _CHECK_STATES:
                value = "1" if field[2] == state else "0"
                samples.append((f'{{{_labels(row, scope)},state="{state}"}}', value))
        return samples
    if suffix in ("agg_server_status", "agg_server_check_status", "agg_check_status"):
        for row in rows:
            members = [s for s in servers if s[0] == row[0]]
            if suffix == "agg_check_status":
                counts = {s: 0 for s in _CHECK_STATES}
                for member in members:
                    check = member[_POS["check_status"]]
                    if check is not None and check[2] in counts:
                        counts[str(check[2])] += 1
            else:
                counts = {s: 0 for s in _SRV_STATES}
                for member in members:
                    counts[_srv_state(str(member[_POS["status"]][2]))] += 1  # type: ignore[index]
            for state, count in counts.items():
                samples.append((f'{{{_labels(row, scope)},state="{state}"}}', str(count)))
        return samples
    column = _FIELD.get(suffix)
    if column is None:
        return None
    for row in rows:
        field = row[_POS[column]]
        if column.startswith("check_") and row[_POS["check_status"]] is None:
            continue  # promex leaves unchecked servers out of the check metrics
        if field is None:
            value = "NaN"
        elif column in _MS:
            value = _seconds(field[2])
        else:
            value = _number(field[2])
        samples.append((f"{{{_labels(row, scope)}}}", value))
    return samples


def _labels(row: Row, scope: str) -> str:
    proxy = f'proxy="{_label(str(row[0][2]))}"'  # type: ignore[index]
    if scope == "server":
        return proxy + f',server="{_label(str(row[1][2]))}"'  # type: ignore[index]
    return proxy


def parse_query(target: bytes) -> tuple[set[str] | None, set[str] | None]:
    """``scope=`` (repeatable; empty resets; ``*``: all) and ``metrics=`` from the URI."""
    _, _, query = target.partition(b"?")
    scopes: set[str] | None = None
    only: set[str] | None = None
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if key == "scope":
            if value == "*":
                scopes = set(_SCOPES)
            elif not value:
                scopes = set()
            else:
                scopes = (scopes or set()) | {value}
        elif key == "metrics":
            only = (only or set()) | {m for m in value.split(",") if m}
    return scopes, only


def answer(source: StatsSource, request: Request, connection: bytes) -> bytes:
    """The exporter's whole response, chunked as HAProxy sends it."""
    scopes, only = parse_query(request.target)
    body = render(source, scopes, only).encode("utf-8")
    if request.method == b"HEAD":
        body = b""
    head = (
        b"HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: "
        + CONTENT_TYPE
        + b"\r\ntransfer-encoding: chunked\r\n"
        + connection
        + b"\r\n"
    )
    chunk = b"%X\r\n%s\r\n" % (len(body), body) if body else b""
    return head + chunk + b"0\r\n\r\n"
