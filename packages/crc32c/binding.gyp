{
  "targets": [
    {
      "target_name": "crc32c",
      "sources": ["native/crc32c.c"]
    }
  ]
}
