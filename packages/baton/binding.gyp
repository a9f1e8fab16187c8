{
  "targets": [
    {
      "target_name": "shared_sequence",
      "sources": ["native/shared_sequence.c"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra"]
    }
  ]
}
