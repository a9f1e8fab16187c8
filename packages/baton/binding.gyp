{
  "targets": [
    {
      "target_name": "shared_sequence",
      "sources": ["native/shared_sequence.c"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra"]
    },
    {
      "target_name": "vrrp_scheduling",
      "sources": ["native/vrrp_scheduling.c"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Werror"]
    },
    {
      "target_name": "sd_notify",
      "sources": ["native/sd_notify.c"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
