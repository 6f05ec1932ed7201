/// The OpenAPI 3.0.3 description of the HTTP API, served at `/openapi.json`.
///
/// Kept by hand in step with Routes/*.swift (paths, parameters, status codes) and
/// Support/ResponseEncoding.swift, `JSONWriter.alert` and `APIError` (response shapes); the
/// Python tests (Tests/python) validate it and fuzz the live server against it.
enum OpenAPIDocument {
    static let json = #"""
        {
          "openapi": "3.0.3",
          "info": {
            "title": "Sinter",
            "version": "1",
            "description": "Time-series store and HTTP server for 3D-printer telemetry: ingest (JSON or binary batches), range and series queries, alerts, a live stream, health and metrics. Every error is `{\"error\": {\"code\", \"message\", \"field\"?, \"position\"?}}` and every response carries `X-Request-ID`. Writes (POST) need `Authorization: Bearer <token>` when the server has a token; reads too with `--protect-reads`. Unknown paths answer 404 (a known path with another method 404 or 405), in the same error shape."
          },
          "servers": [
            {
              "url": "http://127.0.0.1:8080",
              "description": "sinter-server's default address"
            }
          ],
          "tags": [
            {
              "name": "telemetry",
              "description": "Ingest."
            },
            {
              "name": "query",
              "description": "Machines, records, series."
            },
            {
              "name": "alerts",
              "description": "Alert lifecycle."
            },
            {
              "name": "live",
              "description": "Server-Sent Events."
            },
            {
              "name": "operations",
              "description": "Health, metrics, this document."
            },
            {
              "name": "dashboard",
              "description": "The monitoring page."
            }
          ],
          "paths": {
            "/api/v1/telemetry": {
              "post": {
                "operationId": "ingestTelemetry",
                "summary": "Ingest records",
                "description": "Stores one record or an array, all-or-nothing, and answers once they are durable. JSON in the seed's shape or the full record shape (`text/json` is accepted as JSON), or the binary batch `application/vnd.sinter.frames` (Storage/Format/frames-batch.md). A record with the same machine and timestamp as a stored one is a duplicate: it is stored once and keeps the stored id, so retries are safe.",
                "tags": [
                  "telemetry"
                ],
                "parameters": [
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {
                    "bearerAuth": []
                  },
                  {}
                ],
                "responses": {
                  "201": {
                    "description": "Stored (or already stored).",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/IngestResult"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "413": {
                    "$ref": "#/components/responses/TooLarge"
                  },
                  "415": {
                    "$ref": "#/components/responses/UnsupportedMediaType"
                  },
                  "422": {
                    "$ref": "#/components/responses/Unprocessable"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                },
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {
                      "schema": {
                        "$ref": "#/components/schemas/TelemetryBody"
                      },
                      "examples": {
                        "seed": {
                          "summary": "Seed shape (flat or 100 × 100 nested temperature_data)",
                          "value": {
                            "machine_id": "dmls-01",
                            "timestamp": "2026-11-21T10:00:00Z",
                            "power_consumption": 3.25,
                            "vibration": 0.5
                          }
                        },
                        "full": {
                          "summary": "Full record shape",
                          "value": [
                            {
                              "machine_id": "fdm-01",
                              "timestamp": 1795255200000,
                              "kind": "fdm",
                              "state": "printing",
                              "channels": {
                                "nozzle_temp_c": 215.5,
                                "bed_temp_c": 60
                              },
                              "frame": {
                                "width": 2,
                                "height": 1,
                                "data": [
                                  20.5,
                                  21.25
                                ]
                              }
                            }
                          ]
                        }
                      }
                    },
                    "application/vnd.sinter.frames": {
                      "schema": {
                        "type": "string",
                        "format": "binary"
                      }
                    }
                  },
                  "description": "JSON, or `application/vnd.sinter.frames`: a binary record batch (magic `SNFB`, version 1, then length-prefixed little-endian records with Float32 frames; Storage/Format/frames-batch.md)."
                }
              }
            },
            "/api/v1/machines": {
              "get": {
                "operationId": "listMachines",
                "summary": "List machines",
                "description": "Every machine with records: kind, first and last timestamp, record count.",
                "tags": [
                  "query"
                ],
                "parameters": [
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {},
                  {
                    "bearerAuth": []
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The machines.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/MachineList"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  }
                }
              }
            },
            "/api/v1/machines/{id}/records": {
              "get": {
                "operationId": "queryRecords",
                "summary": "Records of a machine in a time range",
                "description": "Scalars, state and frame statistics, oldest first (or newest first with `order=desc`); frames only with `include=frame`. The response streams. `Accept: application/vnd.sinter.frames` answers a binary batch with frames instead of JSON.",
                "tags": [
                  "query"
                ],
                "parameters": [
                  {
                    "$ref": "#/components/parameters/MachinePath"
                  },
                  {
                    "$ref": "#/components/parameters/From"
                  },
                  {
                    "$ref": "#/components/parameters/To"
                  },
                  {
                    "name": "limit",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 1000000,
                      "default": 1000
                    },
                    "description": "Most records returned."
                  },
                  {
                    "name": "order",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "string",
                      "enum": [
                        "asc",
                        "desc"
                      ],
                      "default": "asc"
                    },
                    "description": "`asc` (oldest first) or `desc` (newest first)."
                  },
                  {
                    "$ref": "#/components/parameters/Include"
                  },
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {},
                  {
                    "bearerAuth": []
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The records.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/RecordPage"
                        }
                      },
                      "application/vnd.sinter.frames": {
                        "schema": {
                          "type": "string",
                          "format": "binary"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  }
                }
              }
            },
            "/api/v1/machines/{id}/latest": {
              "get": {
                "operationId": "latestRecord",
                "summary": "The newest record of a machine",
                "description": "Frames only with `include=frame`.",
                "tags": [
                  "query"
                ],
                "parameters": [
                  {
                    "$ref": "#/components/parameters/MachinePath"
                  },
                  {
                    "$ref": "#/components/parameters/Include"
                  },
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {},
                  {
                    "bearerAuth": []
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The newest record.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Record"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  }
                }
              }
            },
            "/api/v1/machines/{id}/series": {
              "get": {
                "operationId": "series",
                "summary": "Downsampled series of one channel",
                "description": "Minimum, maximum, mean and count of the finite values per bucket. Frame statistics are channels too (`frame_min`, `frame_max`, `frame_mean`, `frame_std`). The range defaults to the machine's first and last record; the step to about 500 buckets over the range (at least 1 ms).",
                "tags": [
                  "query"
                ],
                "parameters": [
                  {
                    "$ref": "#/components/parameters/MachinePath"
                  },
                  {
                    "name": "channel",
                    "in": "query",
                    "required": true,
                    "schema": {
                      "$ref": "#/components/schemas/ChannelName"
                    },
                    "description": "The channel: `power_kw`, `vibration_mm_s`, `frame_mean`, …"
                  },
                  {
                    "$ref": "#/components/parameters/From"
                  },
                  {
                    "$ref": "#/components/parameters/To"
                  },
                  {
                    "name": "step",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "string",
                      "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d)|[0-9]+)$",
                      "example": "10s"
                    },
                    "description": "Bucket width: a positive duration such as `500ms`, `10s`, `5m`, `1h`, `1d`, or plain milliseconds. At most 100,000 buckets."
                  },
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {},
                  {
                    "bearerAuth": []
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The buckets.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Series"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "422": {
                    "$ref": "#/components/responses/Unprocessable"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  }
                }
              }
            },
            "/api/v1/records/{id}": {
              "get": {
                "operationId": "getRecord",
                "summary": "One record with its frame",
                "description": "JSON with the frame by default; `Accept: application/octet-stream` gives the raw frame (Float32 little-endian, row after row, size in `X-Frame-Width` and `X-Frame-Height`; 404 when the record has no frame); `Accept: application/vnd.sinter.frames` a binary batch of one record.",
                "tags": [
                  "query"
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "$ref": "#/components/schemas/RecordID"
                    },
                    "description": "The record id, `machine@nanoseconds`."
                  },
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {},
                  {
                    "bearerAuth": []
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The record.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      },
                      "X-Frame-Width": {
                        "description": "Frame width (octet-stream only).",
                        "schema": {
                          "type": "integer"
                        }
                      },
                      "X-Frame-Height": {
                        "description": "Frame height (octet-stream only).",
                        "schema": {
                          "type": "integer"
                        }
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Record"
                        }
                      },
                      "application/octet-stream": {
                        "schema": {
                          "type": "string",
                          "format": "binary"
                        }
                      },
                      "application/vnd.sinter.frames": {
                        "schema": {
                          "type": "string",
                          "format": "binary"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  }
                }
              }
            },
            "/api/v1/alerts": {
              "post": {
                "operationId": "raiseAlert",
                "summary": "Raise an alert",
                "description": "Idempotent: while an alert for the same machine and rule is unresolved, raising it again answers 200 with that alert instead of 201 with a new one. If the severity, message or details differ from the open alert's, the open alert is updated first (it takes them, `updates` grows by one, `updated_at` is the body's `timestamp` or now; its state and acknowledgement stay) and the live stream sends it as an `alert` event; if nothing differs, nothing changes. A resolved alert is never updated. Bodies are at most 64 KiB.",
                "tags": [
                  "alerts"
                ],
                "parameters": [
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {
                    "bearerAuth": []
                  },
                  {}
                ],
                "responses": {
                  "201": {
                    "description": "Raised.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Alert"
                        }
                      }
                    }
                  },
                  "200": {
                    "description": "Already open: the open alert, updated if the severity, message or details differ.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Alert"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "413": {
                    "$ref": "#/components/responses/TooLarge"
                  },
                  "415": {
                    "$ref": "#/components/responses/UnsupportedMediaType"
                  },
                  "422": {
                    "$ref": "#/components/responses/Unprocessable"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                },
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {
                      "schema": {
                        "$ref": "#/components/schemas/AlertRaise"
                      }
                    }
                  }
                }
              },
              "get": {
                "operationId": "listAlerts",
                "summary": "List alerts",
                "description": "Newest first, filtered by machine, activity and time raised.",
                "tags": [
                  "alerts"
                ],
                "parameters": [
                  {
                    "name": "machine",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "$ref": "#/components/schemas/MachineID"
                    }
                  },
                  {
                    "name": "active",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "boolean"
                    },
                    "description": "`true`: unresolved (active or acknowledged); `false`: resolved."
                  },
                  {
                    "$ref": "#/components/parameters/From"
                  },
                  {
                    "$ref": "#/components/parameters/To"
                  },
                  {
                    "name": "limit",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 100000,
                      "default": 1000
                    }
                  },
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {},
                  {
                    "bearerAuth": []
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The alerts.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/AlertList"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  }
                }
              }
            },
            "/api/v1/alerts/{id}/ack": {
              "post": {
                "operationId": "ackAlert",
                "summary": "Acknowledge an alert",
                "description": "The body is optional. Acknowledging an acknowledged alert changes nothing; acknowledging a resolved one is a conflict (409).",
                "tags": [
                  "alerts"
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string",
                      "minLength": 1,
                      "example": "1"
                    },
                    "description": "The alert id."
                  },
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {
                    "bearerAuth": []
                  },
                  {}
                ],
                "responses": {
                  "200": {
                    "description": "The changed alert.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Alert"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "409": {
                    "$ref": "#/components/responses/Conflict"
                  },
                  "413": {
                    "$ref": "#/components/responses/TooLarge"
                  },
                  "415": {
                    "$ref": "#/components/responses/UnsupportedMediaType"
                  },
                  "422": {
                    "$ref": "#/components/responses/Unprocessable"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                },
                "requestBody": {
                  "required": false,
                  "content": {
                    "application/json": {
                      "schema": {
                        "$ref": "#/components/schemas/AlertChange"
                      }
                    }
                  }
                }
              }
            },
            "/api/v1/alerts/{id}/resolve": {
              "post": {
                "operationId": "resolveAlert",
                "summary": "Resolve an alert",
                "description": "The body is optional. Resolving a resolved alert changes nothing.",
                "tags": [
                  "alerts"
                ],
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string",
                      "minLength": 1,
                      "example": "1"
                    },
                    "description": "The alert id."
                  },
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {
                    "bearerAuth": []
                  },
                  {}
                ],
                "responses": {
                  "200": {
                    "description": "The changed alert.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Alert"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "409": {
                    "$ref": "#/components/responses/Conflict"
                  },
                  "413": {
                    "$ref": "#/components/responses/TooLarge"
                  },
                  "415": {
                    "$ref": "#/components/responses/UnsupportedMediaType"
                  },
                  "422": {
                    "$ref": "#/components/responses/Unprocessable"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                },
                "requestBody": {
                  "required": false,
                  "content": {
                    "application/json": {
                      "schema": {
                        "$ref": "#/components/schemas/AlertChange"
                      }
                    }
                  }
                }
              }
            },
            "/api/v1/stream": {
              "get": {
                "operationId": "stream",
                "summary": "Live records and alerts (Server-Sent Events)",
                "description": "`event: record` with a record's JSON (frame statistics in `channels`; the frame only with `include=frame`) and `event: alert` with an alert's JSON whenever an alert is raised, updated, acknowledged or resolved, each with an `id:`. An idle stream sends a `: keep-alive` comment every 15 s. The stream ends when the client goes away or the server shuts down.",
                "tags": [
                  "live"
                ],
                "parameters": [
                  {
                    "name": "machine",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "$ref": "#/components/schemas/MachineID"
                    },
                    "description": "Only this machine's events (default: all)."
                  },
                  {
                    "$ref": "#/components/parameters/Include"
                  },
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {},
                  {
                    "bearerAuth": []
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The event stream.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "text/event-stream": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  }
                }
              }
            },
            "/": {
              "get": {
                "operationId": "dashboard",
                "summary": "The dashboard",
                "description": "The monitoring page (HTML; its script and style sheet are under /dashboard/). Open even when reads need the token: it holds no data, and asks for the token for the API calls.",
                "tags": [
                  "dashboard"
                ],
                "security": [],
                "responses": {
                  "200": {
                    "description": "The page.",
                    "content": {
                      "text/html": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/dashboard/{file}": {
              "get": {
                "operationId": "dashboardFile",
                "summary": "A file of the dashboard",
                "description": "dashboard.js or dashboard.css, compiled into the server.",
                "tags": [
                  "dashboard"
                ],
                "security": [],
                "parameters": [
                  {
                    "name": "file",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string",
                      "enum": [
                        "dashboard.js",
                        "dashboard.css"
                      ]
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The file.",
                    "content": {
                      "text/javascript": {
                        "schema": {
                          "type": "string"
                        }
                      },
                      "text/css": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "404": {
                    "description": "No such file.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Error"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/healthz": {
              "get": {
                "operationId": "health",
                "summary": "Health",
                "description": "Store size, ingest queue depth, live-stream clients, problems found at open. Open even when reads need the token.",
                "tags": [
                  "operations"
                ],
                "parameters": [
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [],
                "responses": {
                  "200": {
                    "description": "Healthy or degraded.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Health"
                        }
                      }
                    }
                  },
                  "503": {
                    "description": "The store or the alert store stopped after an I/O failure (fail-stop: a failed fsync or a write it could not undo); `status` is `failed` and `error.code` is `store_failed`, naming the file and the cause. Writes are refused until the server is restarted, which recovers everything acknowledged.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Health"
                        }
                      }
                    }
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  }
                }
              }
            },
            "/metrics": {
              "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                "description": "Text exposition: `sinter_ingest_records_total`, `sinter_ingest_duplicates_total`, `sinter_ingest_bytes_total`, `sinter_ingest_rejected_total`, `sinter_ingest_queue_bytes`, `sinter_http_request_duration_seconds`, `sinter_wal_fsync_duration_seconds`, `sinter_store_*`, …",
                "tags": [
                  "operations"
                ],
                "parameters": [
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {},
                  {
                    "bearerAuth": []
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The metrics.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "text/plain": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  }
                }
              }
            },
            "/openapi.json": {
              "get": {
                "operationId": "openapi",
                "summary": "This document",
                "description": "The OpenAPI 3.0.3 description of the API.",
                "tags": [
                  "operations"
                ],
                "parameters": [
                  {
                    "$ref": "#/components/parameters/RequestID"
                  }
                ],
                "security": [
                  {},
                  {
                    "bearerAuth": []
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The document.",
                    "headers": {
                      "X-Request-ID": {
                        "$ref": "#/components/headers/X-Request-ID"
                      }
                    },
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  }
                }
              }
            }
          },
          "components": {
            "schemas": {
              "MachineID": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "pattern": "^[A-Za-z0-9._-]{1,64}$",
                "description": "1-64 characters of A-Z a-z 0-9 . _ - (not `.` or `..`).",
                "example": "dmls-01"
              },
              "ChannelName": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "pattern": "^[A-Za-z0-9._-]{1,64}$",
                "description": "Channel names follow the machine-id alphabet. `frame_min`, `frame_max`, `frame_mean` and `frame_std` are reserved: the store computes them from the frame.",
                "example": "power_kw"
              },
              "RecordID": {
                "type": "string",
                "pattern": "^[A-Za-z0-9._-]{1,64}@-?[0-9]{1,19}$",
                "description": "`machine@nanoseconds`: the machine id and the timestamp in nanoseconds since the epoch. A duplicate of a stored record has the stored record's id.",
                "example": "dmls-01@1795255200000000000"
              },
              "TimestampQuery": {
                "description": "RFC 3339 (`2026-11-21T10:00:00.250Z`, `Z` or `±hh:mm`, up to nanoseconds) or integer milliseconds since the epoch. Years 1678-2262.",
                "anyOf": [
                  {
                    "type": "string",
                    "format": "date-time",
                    "example": "2026-11-21T10:00:00Z"
                  },
                  {
                    "type": "integer",
                    "format": "int64",
                    "example": 1795255200000
                  }
                ]
              },
              "TimestampInput": {
                "description": "RFC 3339 text (`2026-11-21T10:00:00.250Z`, `Z` or `±hh:mm`, up to nanoseconds), epoch milliseconds as a number (a fraction gives sub-millisecond time; no exponent), or epoch milliseconds as a string of digits. Years 1678-2262.",
                "anyOf": [
                  {
                    "type": "string",
                    "format": "date-time",
                    "example": "2026-11-21T10:00:00Z"
                  },
                  {
                    "type": "number",
                    "example": 1795255200000
                  },
                  {
                    "type": "string",
                    "pattern": "^-?[0-9]{1,16}$",
                    "example": "1795255200000"
                  }
                ]
              },
              "Timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339 in UTC with as many fractional digits as needed.",
                "example": "2026-11-21T10:00:00.25Z"
              },
              "Error": {
                "type": "object",
                "required": [
                  "error"
                ],
                "properties": {
                  "error": {
                    "type": "object",
                    "required": [
                      "code",
                      "message"
                    ],
                    "properties": {
                      "code": {
                        "type": "string",
                        "description": "Stable machine-readable code.",
                        "example": "invalid_field"
                      },
                      "message": {
                        "type": "string",
                        "description": "What went wrong, for a human."
                      },
                      "field": {
                        "type": "string",
                        "description": "The body field (`records[3].machine_id`), query parameter or header at fault."
                      },
                      "position": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Byte offset in the request body, for malformed bodies."
                      }
                    }
                  }
                }
              },
              "FlatTemperatures": {
                "type": "array",
                "minItems": 10000,
                "maxItems": 10000,
                "items": {
                  "type": "number"
                },
                "description": "10,000 temperatures (°C), row after row of a 100 × 100 frame."
              },
              "NestedTemperatures": {
                "type": "array",
                "minItems": 100,
                "maxItems": 100,
                "items": {
                  "type": "array",
                  "minItems": 100,
                  "maxItems": 100,
                  "items": {
                    "type": "number"
                  }
                },
                "description": "100 rows of 100 temperatures (°C)."
              },
              "SeedRecord": {
                "type": "object",
                "description": "One sample in the shape the seed's Python edge posts. `power_consumption` is stored as channel `power_kw`, `vibration` as `vibration_mm_s`, `temperature_data` as a 100 × 100 frame; the kind is `dmls` unless `kind` says otherwise. Values are stored as Float32 and must be finite as Float32. Unknown keys (such as the edge's `temperature_stats`) are ignored: the store computes frame statistics itself. `null` on an optional field means absent. Seed and full-shape keys may be mixed (`channels` win over the seed keys, `frame` over `temperature_data`).",
                "required": [
                  "machine_id",
                  "timestamp"
                ],
                "properties": {
                  "machine_id": {
                    "$ref": "#/components/schemas/MachineID"
                  },
                  "timestamp": {
                    "$ref": "#/components/schemas/TimestampInput"
                  },
                  "temperature_data": {
                    "oneOf": [
                      {
                        "$ref": "#/components/schemas/FlatTemperatures"
                      },
                      {
                        "$ref": "#/components/schemas/NestedTemperatures"
                      }
                    ]
                  },
                  "power_consumption": {
                    "type": "number",
                    "nullable": true,
                    "description": "kW (channel `power_kw`)."
                  },
                  "vibration": {
                    "type": "number",
                    "nullable": true,
                    "description": "mm/s (channel `vibration_mm_s`)."
                  }
                },
                "example": {
                  "machine_id": "dmls-01",
                  "timestamp": "2026-11-21T10:00:00Z",
                  "temperature_data": [
                    [
                      25.31,
                      25.4
                    ],
                    [
                      25.52,
                      25.61
                    ]
                  ],
                  "power_consumption": 3.25,
                  "vibration": 0.5
                }
              },
              "FrameInput": {
                "type": "object",
                "required": [
                  "data"
                ],
                "description": "A frame with its size: give both `width` and `height` (1-4096 each) or neither (100 × 100).",
                "properties": {
                  "width": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 4096,
                    "default": 100
                  },
                  "height": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 4096,
                    "default": 100
                  },
                  "data": {
                    "description": "`width × height` numbers, flat (row after row) or as `height` rows of `width`.",
                    "oneOf": [
                      {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                          "type": "number"
                        }
                      },
                      {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                          "type": "array",
                          "minItems": 1,
                          "items": {
                            "type": "number"
                          }
                        }
                      }
                    ]
                  }
                }
              },
              "FullRecord": {
                "type": "object",
                "description": "One record in the full shape. The frame is an object with its size, or a flat array of 10,000 values, or 100 rows of 100 (a 100 × 100 frame). Numbers must be finite as Float32. `null` on an optional field means absent; unknown keys are ignored.",
                "required": [
                  "machine_id",
                  "timestamp"
                ],
                "properties": {
                  "machine_id": {
                    "$ref": "#/components/schemas/MachineID"
                  },
                  "timestamp": {
                    "$ref": "#/components/schemas/TimestampInput"
                  },
                  "kind": {
                    "type": "string",
                    "nullable": true,
                    "maxLength": 64,
                    "description": "`dmls`, `fdm` or free text.",
                    "example": "fdm"
                  },
                  "channels": {
                    "type": "object",
                    "maxProperties": 1024,
                    "nullable": true,
                    "additionalProperties": {
                      "type": "number",
                      "nullable": true
                    },
                    "description": "Named scalar channels (names: see ChannelName), stored as Float32; a null value leaves the channel out.",
                    "example": {
                      "nozzle_temp_c": 215.5,
                      "bed_temp_c": 60,
                      "filament_flow": 0.98
                    }
                  },
                  "state": {
                    "type": "string",
                    "nullable": true,
                    "minLength": 1,
                    "maxLength": 64,
                    "description": "`idle`, `printing`, `anomaly`, `error` or free text.",
                    "example": "printing"
                  },
                  "frame": {
                    "oneOf": [
                      {
                        "$ref": "#/components/schemas/FrameInput"
                      },
                      {
                        "$ref": "#/components/schemas/FlatTemperatures"
                      },
                      {
                        "$ref": "#/components/schemas/NestedTemperatures"
                      }
                    ]
                  }
                }
              },
              "RecordInput": {
                "anyOf": [
                  {
                    "$ref": "#/components/schemas/SeedRecord"
                  },
                  {
                    "$ref": "#/components/schemas/FullRecord"
                  }
                ]
              },
              "TelemetryBody": {
                "description": "One record or an array of records (at most 10,000 by default), stored all-or-nothing.",
                "anyOf": [
                  {
                    "$ref": "#/components/schemas/RecordInput"
                  },
                  {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 10000,
                    "items": {
                      "$ref": "#/components/schemas/RecordInput"
                    }
                  }
                ]
              },
              "IngestResult": {
                "type": "object",
                "required": [
                  "accepted",
                  "duplicates",
                  "ids"
                ],
                "properties": {
                  "accepted": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Records in the request."
                  },
                  "duplicates": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Of those, records already stored (same machine and timestamp): stored once."
                  },
                  "ids": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/RecordID"
                    },
                    "description": "One id per record, in request order."
                  }
                }
              },
              "NullableNumber": {
                "type": "number",
                "nullable": true,
                "description": "A number; non-finite values (NaN, ±infinity) are written as null."
              },
              "FrameOutput": {
                "type": "object",
                "required": [
                  "width",
                  "height",
                  "data"
                ],
                "properties": {
                  "width": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 4096
                  },
                  "height": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 4096
                  },
                  "data": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/NullableNumber"
                    },
                    "description": "`width × height` Float32 values, row after row; non-finite values are null."
                  }
                }
              },
              "Record": {
                "type": "object",
                "required": [
                  "id",
                  "machine_id",
                  "timestamp",
                  "timestamp_ns",
                  "kind",
                  "state",
                  "channels",
                  "has_frame"
                ],
                "properties": {
                  "id": {
                    "$ref": "#/components/schemas/RecordID"
                  },
                  "machine_id": {
                    "$ref": "#/components/schemas/MachineID"
                  },
                  "timestamp": {
                    "$ref": "#/components/schemas/Timestamp"
                  },
                  "timestamp_ns": {
                    "type": "integer",
                    "format": "int64",
                    "description": "Nanoseconds since the epoch."
                  },
                  "kind": {
                    "type": "string"
                  },
                  "state": {
                    "type": "string",
                    "nullable": true
                  },
                  "channels": {
                    "type": "object",
                    "additionalProperties": {
                      "$ref": "#/components/schemas/NullableNumber"
                    },
                    "description": "Scalar channels, with the frame statistics `frame_min`, `frame_max`, `frame_mean` and `frame_std` when the record has a frame."
                  },
                  "has_frame": {
                    "type": "boolean"
                  },
                  "frame": {
                    "$ref": "#/components/schemas/FrameOutput"
                  }
                }
              },
              "RecordPage": {
                "type": "object",
                "required": [
                  "machine_id",
                  "order",
                  "records",
                  "count",
                  "truncated"
                ],
                "properties": {
                  "machine_id": {
                    "$ref": "#/components/schemas/MachineID"
                  },
                  "order": {
                    "type": "string",
                    "enum": [
                      "asc",
                      "desc"
                    ]
                  },
                  "records": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/Record"
                    }
                  },
                  "count": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "truncated": {
                    "type": "boolean",
                    "description": "Whether the range holds more records than `limit`."
                  },
                  "next_from": {
                    "allOf": [
                      {
                        "$ref": "#/components/schemas/Timestamp"
                      }
                    ],
                    "description": "When truncated in ascending order: the `from` of the next page."
                  },
                  "next_to": {
                    "allOf": [
                      {
                        "$ref": "#/components/schemas/Timestamp"
                      }
                    ],
                    "description": "When truncated in descending order: the `to` of the next page."
                  }
                }
              },
              "MachineSummary": {
                "type": "object",
                "required": [
                  "id",
                  "kind",
                  "first_timestamp",
                  "last_timestamp",
                  "record_count"
                ],
                "properties": {
                  "id": {
                    "$ref": "#/components/schemas/MachineID"
                  },
                  "kind": {
                    "type": "string"
                  },
                  "first_timestamp": {
                    "$ref": "#/components/schemas/Timestamp"
                  },
                  "last_timestamp": {
                    "$ref": "#/components/schemas/Timestamp"
                  },
                  "record_count": {
                    "type": "integer",
                    "minimum": 0
                  }
                }
              },
              "MachineList": {
                "type": "object",
                "required": [
                  "machines"
                ],
                "properties": {
                  "machines": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/MachineSummary"
                    }
                  }
                }
              },
              "SeriesBucket": {
                "type": "object",
                "required": [
                  "start",
                  "count",
                  "min",
                  "max",
                  "mean"
                ],
                "properties": {
                  "start": {
                    "$ref": "#/components/schemas/Timestamp"
                  },
                  "count": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Finite values in the bucket."
                  },
                  "min": {
                    "$ref": "#/components/schemas/NullableNumber"
                  },
                  "max": {
                    "$ref": "#/components/schemas/NullableNumber"
                  },
                  "mean": {
                    "$ref": "#/components/schemas/NullableNumber"
                  }
                }
              },
              "Series": {
                "type": "object",
                "required": [
                  "machine_id",
                  "channel",
                  "from",
                  "to",
                  "step_ms",
                  "buckets"
                ],
                "properties": {
                  "machine_id": {
                    "$ref": "#/components/schemas/MachineID"
                  },
                  "channel": {
                    "$ref": "#/components/schemas/ChannelName"
                  },
                  "from": {
                    "$ref": "#/components/schemas/Timestamp"
                  },
                  "to": {
                    "$ref": "#/components/schemas/Timestamp"
                  },
                  "step_ms": {
                    "type": "number",
                    "description": "Bucket width in milliseconds."
                  },
                  "buckets": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/SeriesBucket"
                    },
                    "description": "Buckets that hold at least one finite value, oldest first."
                  }
                }
              },
              "Severity": {
                "type": "string",
                "enum": [
                  "info",
                  "warning",
                  "critical"
                ]
              },
              "AlertRaise": {
                "type": "object",
                "required": [
                  "machine_id",
                  "rule",
                  "severity",
                  "message"
                ],
                "properties": {
                  "machine_id": {
                    "$ref": "#/components/schemas/MachineID"
                  },
                  "rule": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 64,
                    "pattern": "^[A-Za-z0-9._-]{1,64}$",
                    "description": "The rule that fired (machine-id alphabet), e.g. `frame_hot_spot`.",
                    "example": "frame_hot_spot"
                  },
                  "severity": {
                    "$ref": "#/components/schemas/Severity"
                  },
                  "message": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 1024,
                    "description": "1-1024 bytes of UTF-8.",
                    "example": "hot spot of 412 °C at (37, 52)"
                  },
                  "timestamp": {
                    "type": "string",
                    "description": "When it was raised (for a raise that updates an open alert: when it was updated): RFC 3339 or epoch milliseconds as a string (default: now).",
                    "example": "2026-11-21T10:00:00Z"
                  },
                  "details": {
                    "type": "object",
                    "maxProperties": 64,
                    "additionalProperties": {
                      "type": "number"
                    },
                    "description": "At most 64 finite numbers that explain the alert, named in the machine-id alphabet.",
                    "example": {
                      "max_c": 412.5
                    }
                  }
                }
              },
              "AlertChange": {
                "type": "object",
                "properties": {
                  "by": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 128,
                    "description": "Who acknowledged or resolved it (1-128 bytes).",
                    "example": "operator-1"
                  },
                  "note": {
                    "type": "string",
                    "maxLength": 1024,
                    "description": "At most 1024 bytes; a resolution's note replaces the acknowledgement's.",
                    "example": "recoater blade replaced"
                  }
                }
              },
              "Alert": {
                "type": "object",
                "required": [
                  "id",
                  "machine_id",
                  "rule",
                  "severity",
                  "message",
                  "state",
                  "active",
                  "raised_at",
                  "acknowledged_at",
                  "acknowledged_by",
                  "resolved_at",
                  "resolved_by",
                  "note",
                  "updated_at",
                  "updates",
                  "details"
                ],
                "properties": {
                  "id": {
                    "type": "string",
                    "pattern": "^[0-9]+$",
                    "example": "42",
                    "description": "1, 2, 3, … in the order alerts are raised; never reused."
                  },
                  "machine_id": {
                    "$ref": "#/components/schemas/MachineID"
                  },
                  "rule": {
                    "type": "string"
                  },
                  "severity": {
                    "$ref": "#/components/schemas/Severity"
                  },
                  "message": {
                    "type": "string"
                  },
                  "state": {
                    "type": "string",
                    "enum": [
                      "active",
                      "acknowledged",
                      "resolved"
                    ]
                  },
                  "active": {
                    "type": "boolean",
                    "description": "Whether the alert is unresolved (`active` or `acknowledged`)."
                  },
                  "raised_at": {
                    "$ref": "#/components/schemas/Timestamp"
                  },
                  "acknowledged_at": {
                    "type": "string",
                    "format": "date-time",
                    "nullable": true
                  },
                  "acknowledged_by": {
                    "type": "string",
                    "nullable": true
                  },
                  "resolved_at": {
                    "type": "string",
                    "format": "date-time",
                    "nullable": true
                  },
                  "resolved_by": {
                    "type": "string",
                    "nullable": true
                  },
                  "note": {
                    "type": "string",
                    "nullable": true
                  },
                  "updated_at": {
                    "type": "string",
                    "format": "date-time",
                    "nullable": true,
                    "description": "When the severity, message or details last changed (a raise of the open alert with other ones); null if they never did."
                  },
                  "updates": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many times the alert was updated while it was unresolved; 0 as first raised."
                  },
                  "details": {
                    "type": "object",
                    "additionalProperties": {
                      "$ref": "#/components/schemas/NullableNumber"
                    }
                  }
                }
              },
              "AlertList": {
                "type": "object",
                "required": [
                  "alerts"
                ],
                "properties": {
                  "alerts": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/Alert"
                    }
                  }
                }
              },
              "Health": {
                "type": "object",
                "required": [
                  "status",
                  "uptime_s",
                  "machines",
                  "records",
                  "segment_bytes",
                  "wal_bytes",
                  "ingest_queue_bytes",
                  "ingest_queue_requests",
                  "stream_clients",
                  "problems",
                  "alert_problems"
                ],
                "properties": {
                  "status": {
                    "type": "string",
                    "enum": [
                      "ok",
                      "degraded",
                      "failed"
                    ],
                    "description": "`degraded` when problems were found at open (see `problems`); `failed` (with HTTP 503 and `error`) when the store stopped after an I/O failure."
                  },
                  "error": {
                    "type": "object",
                    "description": "Why the store stopped (only with status `failed`): `code` `store_failed`, the message naming the file and the cause, `field` the file.",
                    "required": [
                      "code",
                      "message"
                    ],
                    "properties": {
                      "code": {
                        "type": "string"
                      },
                      "message": {
                        "type": "string"
                      },
                      "field": {
                        "type": "string"
                      }
                    }
                  },
                  "uptime_s": {
                    "type": "number"
                  },
                  "machines": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "records": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "segment_bytes": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "wal_bytes": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "ingest_queue_bytes": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "ingest_queue_requests": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "stream_clients": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "problems": {
                    "type": "array",
                    "items": {
                      "type": "string"
                    }
                  },
                  "alert_problems": {
                    "type": "array",
                    "items": {
                      "type": "string"
                    }
                  }
                }
              }
            },
            "responses": {
              "BadRequest": {
                "description": "Malformed request: a query parameter, path segment, header or body that cannot be read (`field` names it; `position` gives the byte offset in a malformed body).",
                "headers": {
                  "X-Request-ID": {
                    "$ref": "#/components/headers/X-Request-ID"
                  }
                },
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "Unauthorized": {
                "description": "The server has a token and the request has no valid `Authorization: Bearer <token>`.",
                "headers": {
                  "X-Request-ID": {
                    "$ref": "#/components/headers/X-Request-ID"
                  },
                  "WWW-Authenticate": {
                    "$ref": "#/components/headers/WWW-Authenticate"
                  }
                },
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "NotFound": {
                "description": "No such machine, record or alert (or, for any other path, no such route).",
                "headers": {
                  "X-Request-ID": {
                    "$ref": "#/components/headers/X-Request-ID"
                  }
                },
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "Conflict": {
                "description": "The change conflicts with the alert's state.",
                "headers": {
                  "X-Request-ID": {
                    "$ref": "#/components/headers/X-Request-ID"
                  }
                },
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "TooLarge": {
                "description": "The body is larger than the server's limit (`--max-body-bytes` for ingest, 64 KiB for alerts).",
                "headers": {
                  "X-Request-ID": {
                    "$ref": "#/components/headers/X-Request-ID"
                  }
                },
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "UnsupportedMediaType": {
                "description": "Unsupported or missing `Content-Type` (`field` is `Content-Type`).",
                "headers": {
                  "X-Request-ID": {
                    "$ref": "#/components/headers/X-Request-ID"
                  }
                },
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "Unprocessable": {
                "description": "The body is well-formed but a value is not acceptable; `field` names it, e.g. `records[1].temperature_data`.",
                "headers": {
                  "X-Request-ID": {
                    "$ref": "#/components/headers/X-Request-ID"
                  }
                },
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "Unavailable": {
                "description": "Overloaded (the ingest queue is full), shutting down (`store_closed`) or the disk is full (`no_space`, nothing of the request was stored): retry after `Retry-After` seconds. `store_failed` (no `Retry-After`): the store stopped after an I/O failure and refuses writes until the server is restarted.",
                "headers": {
                  "X-Request-ID": {
                    "$ref": "#/components/headers/X-Request-ID"
                  },
                  "Retry-After": {
                    "$ref": "#/components/headers/Retry-After"
                  }
                },
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "InternalError": {
                "description": "The store failed (`code` names the store's error).",
                "headers": {
                  "X-Request-ID": {
                    "$ref": "#/components/headers/X-Request-ID"
                  }
                },
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              }
            },
            "parameters": {
              "MachinePath": {
                "name": "id",
                "in": "path",
                "required": true,
                "schema": {
                  "$ref": "#/components/schemas/MachineID"
                },
                "description": "The machine id."
              },
              "From": {
                "name": "from",
                "in": "query",
                "required": false,
                "schema": {
                  "$ref": "#/components/schemas/TimestampQuery"
                },
                "description": "Start of the range (inclusive): RFC 3339 or epoch milliseconds."
              },
              "To": {
                "name": "to",
                "in": "query",
                "required": false,
                "schema": {
                  "$ref": "#/components/schemas/TimestampQuery"
                },
                "description": "End of the range (inclusive): RFC 3339 or epoch milliseconds."
              },
              "Include": {
                "name": "include",
                "in": "query",
                "required": false,
                "schema": {
                  "type": "string",
                  "enum": [
                    "frame",
                    "none"
                  ]
                },
                "description": "`frame` includes the thermal frame (`frames` is accepted too; `none`, `stats` and `statistics` leave it out). Frame statistics are always in `channels`."
              },
              "RequestID": {
                "name": "X-Request-ID",
                "in": "header",
                "required": false,
                "schema": {
                  "type": "string",
                  "pattern": "^[A-Za-z0-9._-]{1,64}$"
                },
                "description": "A client-chosen request id, echoed on the response and logged."
              }
            },
            "headers": {
              "X-Request-ID": {
                "description": "The request's id: the client's `X-Request-ID` when it is a safe token, else the server's.",
                "schema": {
                  "type": "string"
                }
              },
              "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {
                  "type": "integer",
                  "minimum": 0
                }
              },
              "WWW-Authenticate": {
                "description": "`Bearer realm=\"sinter\"`.",
                "schema": {
                  "type": "string"
                }
              }
            },
            "securitySchemes": {
              "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "The server's `--token` (or `SINTER_TOKEN`). Needed on writes when the server has a token, and on reads with `--protect-reads`."
              }
            }
          }
        }
        """#
}
