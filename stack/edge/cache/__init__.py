"""RFC 9111 HTTP cache for the edge tier (mod_cache, mod_cache_disk and htcacheclean)."""
