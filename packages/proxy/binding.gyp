{
  "targets": [
    {
      "target_name": "relay_engine",
      "sources": [
        "native/addon.c",
        "native/listener.c",
        "native/session.c",
        "native/pipes.c",
        "native/wheel.c",
        "native/proxy_header.c",
        "native/fdpass.c"
      ],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2"],
      "cflags": ["<!@(node -p \"process.env.BATON_SANITIZE ? '-fsanitize=address,undefined -fno-omit-frame-pointer -g' : ''\")"],
      "ldflags": ["<!@(node -p \"process.env.BATON_SANITIZE ? '-fsanitize=address,undefined' : ''\")"]
    }
  ]
}
