{
  "targets": [
    {
      "target_name": "termguard_malloc",
      "sources": ["malloc.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
