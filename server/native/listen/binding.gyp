{
  "targets": [
    {
      "target_name": "termguard_listen",
      "sources": ["listen.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
