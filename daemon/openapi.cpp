#include "openapi.hpp"

#include <zsimem/validate.hpp>

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#ifndef ZSIMEM_VERSION
#define ZSIMEM_VERSION "0.1.0"
#endif

namespace zsimem::daemon {
namespace {

// The schemas, parameters, headers and responses that do not depend on the
// options or on the validation limits. Shapes follow core/src/codec.cpp and
// daemon/http_errors.cpp; the limit-bearing schemas (UserId, Namespace, Tag,
// Tags, IdempotencyKey) are built below from <zsimem/validate.hpp>.
constexpr std::string_view k_components = R"json({
  "schemas": {
    "Version": {
      "title": "Version",
      "description": "A version of a context as the API shows it: a positive decimal integer, as a string. Versions count 1, 2, 3 ... per context.",
      "type": "string",
      "pattern": "^[1-9][0-9]*$",
      "examples": ["3"]
    },
    "VersionInput": {
      "title": "VersionInput",
      "description": "A version in a request body: the spec's string (\"3\") or an integer (3).",
      "anyOf": [
        {"type": "string", "pattern": "^0*[1-9][0-9]*$"},
        {"type": "integer", "minimum": 1}
      ],
      "examples": ["3", 3]
    },
    "TimeQuery": {
      "title": "TimeQuery",
      "description": "A point in time: RFC 3339 (2026-01-02T03:04:05Z) or a date (2026-01-02, meaning its end, UTC).",
      "type": "string",
      "anyOf": [{"format": "date-time"}, {"format": "date"}],
      "examples": ["2026-01-02T03:04:05Z", "2026-01-02"]
    },
    "UserContext": {
      "title": "UserContext",
      "description": "The spec's UserContext: a context (a JSON object) at one version, plus its namespace.",
      "type": "object",
      "required": ["user_id", "namespace", "version", "data", "updated_at"],
      "properties": {
        "user_id": {"$ref": "#/components/schemas/UserId"},
        "namespace": {"$ref": "#/components/schemas/Namespace"},
        "version": {"$ref": "#/components/schemas/Version"},
        "data": {"type": "object", "description": "The whole context at this version."},
        "updated_at": {"type": "string", "format": "date-time", "description": "When this version was written (RFC 3339, UTC, microseconds)."}
      },
      "examples": [{
        "user_id": "alice", "namespace": "default", "version": "2",
        "data": {"diet": {"kcal": 1800}, "steps": 9000}, "updated_at": "2026-01-02T03:04:05.123456Z"
      }]
    },
    "MemoryUpdate": {
      "title": "MemoryUpdate",
      "description": "The spec's MemoryUpdate {user_id, delta, tags}, plus the optional namespace, expected_version, strict and idempotency_key. `delta` is merged into the context as an RFC 7396 JSON merge patch. `user_id` must match the path's.",
      "type": "object",
      "required": ["user_id", "delta"],
      "properties": {
        "user_id": {"$ref": "#/components/schemas/UserId"},
        "delta": {"type": "object", "description": "An RFC 7396 merge patch: members are set, null removes one. At most ZSIMEM_MAX_DELTA_BYTES (413 beyond)."},
        "tags": {"$ref": "#/components/schemas/Tags", "default": []},
        "namespace": {
          "description": "The namespace written; the `namespace` query parameter when absent, else `default`.",
          "anyOf": [{"$ref": "#/components/schemas/Namespace"}, {"type": "null"}],
          "default": "default"
        },
        "expected_version": {
          "description": "Optimistic locking: the version this update is based on (\"0\": the context must not exist yet). Changes made since then that touch other paths are rebased; overlapping ones are a 409.",
          "anyOf": [
            {"type": "string", "pattern": "^(0|0*[1-9][0-9]*)$"},
            {"type": "integer", "minimum": 0},
            {"type": "null"}
          ],
          "default": null
        },
        "strict": {
          "description": "With expected_version: any moved head is a 409, without rebasing.",
          "anyOf": [{"type": "boolean"}, {"type": "null"}],
          "default": false
        },
        "idempotency_key": {
          "description": "A retried update with the same key replays the first answer (X-Zsimem-Outcome: replayed). The Idempotency-Key header when absent.",
          "anyOf": [{"$ref": "#/components/schemas/IdempotencyKey"}, {"type": "null"}],
          "default": null
        }
      },
      "examples": [{"user_id": "alice", "delta": {"diet": {"kcal": 1800}}, "tags": ["nutrition"]}]
    },
    "VersionRecord": {
      "title": "VersionRecord",
      "description": "One immutable version of a context, with all its metadata.",
      "type": "object",
      "required": ["user_id", "namespace", "version", "updated_at", "actor", "request_id", "tags", "derived_from",
                   "rollback_of", "idempotency_key", "prev_hash", "hash", "data", "delta"],
      "properties": {
        "user_id": {"$ref": "#/components/schemas/UserId"},
        "namespace": {"$ref": "#/components/schemas/Namespace"},
        "version": {"$ref": "#/components/schemas/Version"},
        "updated_at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string", "description": "Who wrote it: under an access policy the bearer token's subject, else `http:ADDRESS` for the daemon (the OS user for the CLI)."},
        "request_id": {"type": "string", "description": "The X-Request-ID of the write."},
        "tags": {"type": "array", "items": {"type": "string"}},
        "derived_from": {
          "description": "The version the writer based its update on; null for the first version.",
          "anyOf": [{"$ref": "#/components/schemas/Version"}, {"type": "null"}]
        },
        "rollback_of": {
          "description": "The version this one restores, for a rollback.",
          "anyOf": [{"$ref": "#/components/schemas/Version"}, {"type": "null"}]
        },
        "idempotency_key": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "prev_hash": {
          "description": "The previous version's hash; null for version 1.",
          "anyOf": [{"type": "string"}, {"type": "null"}]
        },
        "hash": {"type": "string", "description": "SHA-256 over this record and prev_hash (and salt, when present)."},
        "salt": {"type": "string", "description": "Present on versions written with encryption at rest: 32 random hex digits the hash also covers, so that the hash, stored in the clear, cannot confirm a guess of the content."},
        "data": {"type": "object", "description": "The whole context after this version."},
        "delta": {"type": "object", "description": "The merge patch that made this version from the previous one."}
      }
    },
    "HistoryPage": {
      "title": "HistoryPage",
      "description": "Versions, newest first. Pass next_cursor as `cursor` for the next page; null on the last.",
      "type": "object",
      "required": ["versions", "next_cursor"],
      "properties": {
        "versions": {"type": "array", "items": {"$ref": "#/components/schemas/VersionRecord"}},
        "next_cursor": {"anyOf": [{"$ref": "#/components/schemas/Version"}, {"type": "null"}]}
      }
    },
    "JsonPatchOperation": {
      "title": "JsonPatchOperation",
      "description": "One RFC 6902 JSON Patch operation.",
      "type": "object",
      "required": ["op", "path"],
      "properties": {
        "op": {"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
        "path": {"type": "string", "description": "A JSON Pointer."},
        "from": {"type": "string", "description": "A JSON Pointer (move and copy)."},
        "value": {"description": "Any JSON value (add, replace and test)."}
      }
    },
    "DiffResult": {
      "title": "DiffResult",
      "description": "The changes from one version of a context to another, as an RFC 6902 JSON Patch and as an RFC 7396 merge patch.",
      "type": "object",
      "required": ["user_id", "namespace", "from", "to", "patch", "merge_patch"],
      "properties": {
        "user_id": {"$ref": "#/components/schemas/UserId"},
        "namespace": {"$ref": "#/components/schemas/Namespace"},
        "from": {"$ref": "#/components/schemas/Version"},
        "to": {"$ref": "#/components/schemas/Version"},
        "patch": {"type": "array", "items": {"$ref": "#/components/schemas/JsonPatchOperation"}},
        "merge_patch": {"type": "object"}
      },
      "examples": [{
        "user_id": "alice", "namespace": "default", "from": "2", "to": "3",
        "patch": [{"op": "remove", "path": "/steps"}], "merge_patch": {"steps": null}
      }]
    },
    "BlameEntry": {
      "title": "BlameEntry",
      "description": "The version that last set a field (a leaf of the context, by JSON Pointer).",
      "type": "object",
      "required": ["path", "version", "updated_at", "actor", "request_id"],
      "properties": {
        "path": {"type": "string", "description": "A JSON Pointer."},
        "version": {"$ref": "#/components/schemas/Version"},
        "updated_at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string"},
        "request_id": {"type": "string"}
      },
      "examples": [{
        "path": "/diet/kcal", "version": "1", "updated_at": "2026-01-02T03:04:05.123456Z",
        "actor": "http:127.0.0.1", "request_id": "trace-1"
      }]
    },
    "SummaryStats": {
      "title": "SummaryStats",
      "description": "Statistics of a field's samples: the versions that set it to a number. Null where there is no sample.",
      "type": "object",
      "required": ["count", "first", "last", "min", "max", "mean", "change", "first_at", "last_at"],
      "properties": {
        "count": {"type": "integer", "minimum": 0},
        "first": {"type": ["number", "null"]},
        "last": {"type": ["number", "null"]},
        "min": {"type": ["number", "null"]},
        "max": {"type": ["number", "null"]},
        "mean": {"type": ["number", "null"]},
        "change": {"type": ["number", "null"], "description": "last - first"},
        "first_at": {"type": ["string", "null"], "format": "date-time"},
        "last_at": {"type": ["string", "null"], "format": "date-time"}
      }
    },
    "SummaryField": {
      "title": "SummaryField",
      "description": "One field's statistics over the whole range, per bucket, its least-squares trend and its goal.",
      "allOf": [{"$ref": "#/components/schemas/SummaryStats"}],
      "type": "object",
      "required": ["field", "buckets", "trend", "goal"],
      "properties": {
        "field": {"type": "string", "description": "A JSON Pointer."},
        "buckets": {
          "type": "array",
          "description": "Oldest first; only buckets with samples.",
          "items": {
            "allOf": [{"$ref": "#/components/schemas/SummaryStats"}],
            "type": "object",
            "required": ["label", "start"],
            "properties": {
              "label": {"type": "string", "examples": ["2026-11-29", "2026-W48", "2026-11"]},
              "start": {"type": "string", "format": "date-time"}
            }
          }
        },
        "trend": {
          "type": ["object", "null"],
          "description": "value = intercept + slope_per_day * days since the first sample; null with fewer than two samples at different times.",
          "required": ["slope_per_day", "intercept"],
          "properties": {"slope_per_day": {"type": "number"}, "intercept": {"type": "number"}}
        },
        "goal": {
          "type": ["object", "null"],
          "description": "Progress toward a target from the query's goal, or else from the context's /goals at the field's pointer; null without a target or samples.",
          "required": ["target", "source", "progress", "reached", "forecast", "outlook"],
          "properties": {
            "target": {"type": "number"},
            "source": {"enum": ["request", "context"]},
            "progress": {"type": "number", "description": "(last - first) / (target - first)"},
            "reached": {"type": "boolean"},
            "forecast": {"type": ["string", "null"], "format": "date-time", "description": "When the trend reaches the target."},
            "outlook": {"enum": ["reached", "on current trend", "not on current trend"]}
          }
        }
      }
    },
    "Summary": {
      "title": "Summary",
      "description": "Numeric fields of a context summarized over the versions updated in [since, until]; computed from the versions alone, so the same range always gives the same summary.",
      "type": "object",
      "required": ["user_id", "namespace", "since", "until", "bucket", "versions", "fields"],
      "properties": {
        "user_id": {"$ref": "#/components/schemas/UserId"},
        "namespace": {"$ref": "#/components/schemas/Namespace"},
        "since": {"type": ["string", "null"], "format": "date-time"},
        "until": {"type": ["string", "null"], "format": "date-time"},
        "bucket": {"enum": ["none", "day", "week", "month"]},
        "versions": {"type": "integer", "minimum": 0, "description": "Versions read."},
        "fields": {"type": "array", "items": {"$ref": "#/components/schemas/SummaryField"}}
      }
    },
    "Features": {
      "title": "Features",
      "description": "Each feature and whether it is on.",
      "type": "object",
      "required": ["hooks", "read_audit", "retention", "summaries", "versioning"],
      "properties": {
        "hooks": {"type": "boolean", "description": "Delivering versions to hooks: zsimem hooks and serve --hooks."},
        "read_audit": {"type": "boolean", "description": "Audit records of reads (writes and refusals are always audited)."},
        "retention": {"type": "boolean", "description": "Retention policies: zsimem prune and the daemon's --retention timer."},
        "summaries": {"type": "boolean", "description": "GET .../summary."},
        "versioning": {"type": "boolean", "description": "Off: each write prunes every version but the new head."}
      },
      "additionalProperties": {"type": "boolean"},
      "examples": [{"hooks": true, "read_audit": true, "retention": true, "summaries": true, "versioning": true}]
    },
    "HooksStatus": {
      "title": "HooksStatus",
      "description": "Each configured hook's progress through the contexts it follows (docs/hooks.md).",
      "type": "object",
      "required": ["hooks"],
      "properties": {
        "hooks": {"type": "array", "items": {"$ref": "#/components/schemas/HookStatus"}}
      }
    },
    "HookStatus": {
      "title": "HookStatus",
      "type": "object",
      "required": ["name", "type", "contexts", "pending", "failing", "dead_letters", "lagging"],
      "properties": {
        "name": {"type": "string"},
        "type": {"type": "string", "enum": ["program", "webhook", "trend", "goal"]},
        "contexts": {"type": "integer", "minimum": 0, "description": "Contexts it follows."},
        "pending": {"type": "integer", "minimum": 0, "description": "Versions not yet handed over, in all."},
        "failing": {"type": "integer", "minimum": 0, "description": "Contexts waiting to retry a failed delivery."},
        "dead_letters": {"type": "integer", "minimum": 0, "description": "Versions set aside after max_attempts failures."},
        "lagging": {"type": "array", "items": {"$ref": "#/components/schemas/HookContextStatus"},
                    "description": "The contexts with pending versions, failures or dead letters."}
      }
    },
    "HookContextStatus": {
      "title": "HookContextStatus",
      "type": "object",
      "required": ["user_id", "namespace", "head", "delivered", "pending", "attempts", "last_error", "retry_at",
                   "pruned", "dead_letters", "recent_dead_letters"],
      "properties": {
        "user_id": {"type": "string"},
        "namespace": {"type": "string"},
        "head": {"$ref": "#/components/schemas/Version"},
        "delivered": {"type": "string", "pattern": "^(0|[1-9][0-9]*)$", "description": "The last version handed over, set aside or pruned before delivery; \"0\" before the first."},
        "pending": {"type": "integer", "minimum": 0},
        "attempts": {"type": "integer", "minimum": 0, "description": "Failed attempts at the next version."},
        "last_error": {"type": "string"},
        "retry_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        "pruned": {"type": "integer", "minimum": 0, "description": "Versions retention removed before they were delivered."},
        "dead_letters": {"type": "integer", "minimum": 0},
        "recent_dead_letters": {
          "type": "array",
          "items": {
            "type": "object",
            "required": ["version", "error", "at"],
            "properties": {
              "version": {"$ref": "#/components/schemas/Version"},
              "error": {"type": "string"},
              "at": {"type": "string", "format": "date-time"}
            }
          }
        }
      }
    },
    "AuditRecord": {
      "title": "AuditRecord",
      "description": "Who did what to which context, and how it ended; never the data itself.",
      "type": "object",
      "required": ["seq", "time", "request_id", "actor", "operation", "user_id", "namespace", "version", "outcome", "detail", "prev_hash", "hash"],
      "properties": {
        "seq": {"type": "integer", "minimum": 0, "description": "Increasing; the order of the log."},
        "time": {"type": "string", "format": "date-time"},
        "request_id": {"type": "string"},
        "actor": {"type": "string"},
        "operation": {"type": "string", "examples": ["get", "merge", "rollback", "delete", "history"]},
        "user_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "namespace": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "version": {
          "description": "The version read or written (`2..3` for a diff), if any.",
          "anyOf": [{"type": "string"}, {"type": "null"}]
        },
        "outcome": {"type": "string", "description": "`ok`, or the error's code name.", "examples": ["ok", "not_found", "conflict"]},
        "detail": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "A short reason for failures."},
        "prev_hash": {
          "description": "The hash of the record before this one in the log (null for the first, and for records older than the chain).",
          "anyOf": [{"type": "string", "pattern": "^[0-9a-f]{64}$"}, {"type": "null"}]
        },
        "hash": {
          "description": "SHA-256 over this record's fields and prev_hash: the log is hash-chained like the versions (zsimem verify checks it).",
          "anyOf": [{"type": "string", "pattern": "^[0-9a-f]{64}$"}, {"type": "null"}]
        }
      }
    },
    "AuditPage": {
      "title": "AuditPage",
      "description": "Audit records, newest first. Pass next_cursor as `cursor` for the next page; null on the last.",
      "type": "object",
      "required": ["records", "next_cursor"],
      "properties": {
        "records": {"type": "array", "items": {"$ref": "#/components/schemas/AuditRecord"}},
        "next_cursor": {"anyOf": [{"type": "string", "pattern": "^[0-9]+$"}, {"type": "null"}]}
      }
    },
    "RollbackRequest": {
      "title": "RollbackRequest",
      "description": "Restore an older version's data as a new version.",
      "type": "object",
      "required": ["version"],
      "properties": {
        "version": {"$ref": "#/components/schemas/VersionInput", "description": "The version whose data to restore."},
        "expected_version": {
          "description": "The rollback applies only if the head is still this version (else 409).",
          "anyOf": [{"$ref": "#/components/schemas/VersionInput"}, {"type": "null"}],
          "default": null
        },
        "tags": {"anyOf": [{"$ref": "#/components/schemas/Tags"}, {"type": "null"}], "default": []}
      },
      "examples": [{"version": "1"}]
    },
    "EraseResult": {
      "title": "EraseResult",
      "type": "object",
      "required": ["user_id", "namespace", "removed_versions"],
      "properties": {
        "user_id": {"$ref": "#/components/schemas/UserId"},
        "namespace": {
          "description": "The namespace erased; null when every namespace of the user was.",
          "anyOf": [{"$ref": "#/components/schemas/Namespace"}, {"type": "null"}]
        },
        "removed_versions": {"type": "integer", "minimum": 0}
      },
      "examples": [{"user_id": "alice", "namespace": null, "removed_versions": 3}]
    },
    "BatchRead": {
      "title": "BatchRead",
      "description": "One read of a batch: the head, a version, or the version current at a time.",
      "type": "object",
      "required": ["user_id"],
      "properties": {
        "user_id": {"$ref": "#/components/schemas/UserId"},
        "namespace": {"$ref": "#/components/schemas/Namespace", "default": "default"},
        "version": {"anyOf": [{"$ref": "#/components/schemas/VersionInput"}, {"type": "null"}]},
        "date": {"anyOf": [{"$ref": "#/components/schemas/TimeQuery"}, {"type": "null"}]}
      }
    },
    "BatchRequest": {
      "title": "BatchRequest",
      "description": "Many updates and reads in one request. Updates run first, in order, then reads (which see the batch's writes). With `atomic`, the updates commit all together or not at all (on SQLite; on the JSON store each commits on its own) and the first failure fails the request with its status.",
      "type": "object",
      "properties": {
        "updates": {
          "anyOf": [{"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/MemoryUpdate"}}, {"type": "null"}],
          "default": []
        },
        "reads": {
          "anyOf": [{"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/BatchRead"}}, {"type": "null"}],
          "default": []
        },
        "atomic": {"anyOf": [{"type": "boolean"}, {"type": "null"}], "default": false}
      },
      "examples": [{"updates": [{"user_id": "alice", "delta": {"steps": 9500}}], "reads": [{"user_id": "alice"}]}]
    },
    "BatchItemError": {
      "title": "BatchItemError",
      "description": "A batch item that failed: the status and the detail a single request would have had.",
      "type": "object",
      "required": ["status", "detail"],
      "properties": {
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {
          "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
            {"$ref": "#/components/schemas/ConflictDetail"}
          ]
        }
      }
    },
    "BatchReadResult": {
      "title": "BatchReadResult",
      "anyOf": [
        {
          "type": "object",
          "required": ["status", "context"],
          "properties": {"status": {"const": 200}, "context": {"$ref": "#/components/schemas/UserContext"}}
        },
        {"$ref": "#/components/schemas/BatchItemError"}
      ]
    },
    "BatchUpdateResult": {
      "title": "BatchUpdateResult",
      "anyOf": [
        {
          "type": "object",
          "required": ["status", "outcome", "context"],
          "properties": {
            "status": {"const": 200},
            "outcome": {"type": "string", "enum": ["created", "unchanged", "replayed", "dry_run"]},
            "context": {"$ref": "#/components/schemas/UserContext"}
          }
        },
        {"$ref": "#/components/schemas/BatchItemError"}
      ]
    },
    "BatchResult": {
      "title": "BatchResult",
      "description": "One result per item, in the request's order.",
      "type": "object",
      "required": ["reads", "updates"],
      "properties": {
        "reads": {"type": "array", "items": {"$ref": "#/components/schemas/BatchReadResult"}},
        "updates": {"type": "array", "items": {"$ref": "#/components/schemas/BatchUpdateResult"}}
      }
    },
    "Health": {
      "title": "Health",
      "type": "object",
      "required": ["status"],
      "properties": {"status": {"type": "string", "const": "ok"}}
    },
    "ValidationError": {
      "title": "ValidationError",
      "type": "object",
      "required": ["loc", "msg", "type"],
      "properties": {
        "loc": {
          "title": "Location",
          "description": "Where the input came from (`path`, `query`, `header` or `body`), then the field.",
          "type": "array",
          "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}
        },
        "msg": {"title": "Message", "type": "string"},
        "type": {"title": "Error Type", "type": "string", "examples": ["value_error"]}
      }
    },
    "HTTPValidationError": {
      "title": "HTTPValidationError",
      "type": "object",
      "properties": {
        "detail": {"title": "Detail", "type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}
      },
      "examples": [{"detail": [{"loc": ["body", "delta"], "msg": "delta: must be a JSON object (a merge patch)", "type": "value_error"}]}]
    },
    "ConflictDetail": {
      "title": "ConflictDetail",
      "type": "object",
      "required": ["msg", "current_version", "conflicting_paths"],
      "properties": {
        "msg": {"type": "string"},
        "current_version": {"type": "string", "description": "The head version at the time."},
        "conflicting_paths": {
          "description": "The JSON Pointers changed on both sides (empty for a strict conflict).",
          "type": "array",
          "items": {"type": "string"}
        }
      }
    },
    "Conflict": {
      "title": "Conflict",
      "description": "An optimistic-locking conflict: the head moved.",
      "type": "object",
      "required": ["detail"],
      "properties": {"detail": {"$ref": "#/components/schemas/ConflictDetail"}},
      "examples": [{"detail": {"msg": "expected version 1 but alice/default is at version 2; /a changed on both sides", "current_version": "2", "conflicting_paths": ["/a"]}}]
    },
    "Detail": {
      "title": "Detail",
      "description": "FastAPI's plain error body.",
      "type": "object",
      "required": ["detail"],
      "properties": {"detail": {"type": "string"}},
      "examples": [{"detail": "Not Found"}]
    }
  },
  "headers": {
    "X-Request-ID": {
      "description": "The request's X-Request-ID when it was a plain token of at most 128 printable ASCII bytes, else a generated one. On every response.",
      "required": true,
      "schema": {"type": "string", "minLength": 1, "maxLength": 128}
    },
    "ETag": {
      "description": "The context's version, quoted; send it back as If-Match.",
      "required": true,
      "schema": {"type": "string", "pattern": "^\"[1-9][0-9]*\"$"},
      "example": "\"3\""
    },
    "X-Zsimem-Outcome": {
      "description": "What the write did.",
      "required": true,
      "schema": {"type": "string", "enum": ["created", "unchanged", "replayed", "dry_run"]}
    },
    "WWW-Authenticate": {
      "description": "The challenge of a refused request.",
      "required": true,
      "schema": {"type": "string", "const": "Bearer realm=\"zsimem\""}
    }
  },
  "parameters": {
    "UserIdPath": {
      "name": "user_id", "in": "path", "required": true,
      "schema": {"$ref": "#/components/schemas/UserId"}, "example": "alice"
    },
    "VersionPath": {
      "name": "version", "in": "path", "required": true,
      "schema": {"type": "string", "pattern": "^0*[1-9][0-9]*$"}, "example": "1"
    },
    "Namespace": {
      "name": "namespace", "in": "query", "required": false,
      "description": "The context's namespace.",
      "schema": {"$ref": "#/components/schemas/Namespace", "default": "default"}
    },
    "XRequestId": {
      "name": "X-Request-ID", "in": "header", "required": false,
      "description": "A caller-chosen id for tracing, echoed and written to the audit and access logs; a plain token of at most 128 printable ASCII bytes (anything else is replaced by a generated id).",
      "schema": {"type": "string", "pattern": "^[!-~]{1,128}$"}, "example": "trace-1"
    },
    "IfMatch": {
      "name": "If-Match", "in": "header", "required": false,
      "description": "The write applies only if the head is this version (strictly: no rebase), else 412. `\"0\"`: the context must not exist yet.",
      "schema": {"type": "string", "pattern": "^(\"[0-9]+\"|[0-9]+|\\*)$"}, "example": "\"3\""
    },
    "IdempotencyKey": {
      "name": "Idempotency-Key", "in": "header", "required": false,
      "description": "As `idempotency_key` in the body, which wins when both are given.",
      "schema": {"$ref": "#/components/schemas/IdempotencyKey"}, "example": "a1b2c3"
    },
    "Limit": {
      "name": "limit", "in": "query", "required": false,
      "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
    },
    "Since": {
      "name": "since", "in": "query", "required": false, "description": "Only entries at or after this time.",
      "schema": {"$ref": "#/components/schemas/TimeQuery"}
    },
    "Until": {
      "name": "until", "in": "query", "required": false, "description": "Only entries at or before this time.",
      "schema": {"$ref": "#/components/schemas/TimeQuery"}
    }
  },
  "securitySchemes": {
    "bearerAuth": {
      "type": "http",
      "scheme": "bearer",
      "description": "`Authorization: Bearer TOKEN`, the token a static API token or a JWT signed with HS256 or RS256. Required only when the daemon runs with an access policy (`--policy` or `ZSIMEM_POLICY`; docs/security.md); without one it is not checked and every request is allowed. `/healthz` never needs it."
    }
  },
  "responses": {
    "BadRequest": {
      "description": "Malformed JSON in the body.",
      "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"},
                                       "example": {"detail": "body: malformed JSON: syntax error while parsing value"}}}
    },
    "Unauthorized": {
      "description": "Under an access policy: the bearer token is missing, malformed, expired, not valid yet, wrongly signed or unknown. The message says why, never quoting the token.",
      "headers": {
        "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
        "WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}
      },
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"},
                                       "example": {"detail": "the token has expired (exp 2026-11-29T09:59:30Z)"}}}
    },
    "Forbidden": {
      "description": "Under an access policy: the token's subject may not do this. The denial is written to the audit log with the same reason.",
      "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"},
                                       "example": {"detail": "bob may not read on alice/default: no rule of the roles self allows it"}}}
    },
    "NotFound": {
      "description": "No such user, namespace, version or path (or no such route: `Not Found`).",
      "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"},
                                       "example": {"detail": "no context for user alice/default"}}}
    },
    "MethodNotAllowed": {
      "description": "A method the route does not have (every route answers GET, POST, PUT, PATCH and DELETE; those not listed for it give this).",
      "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"},
                                       "example": {"detail": "Method Not Allowed"}}}
    },
    "Conflict": {
      "description": "Optimistic-locking conflict: the head moved since expected_version.",
      "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Conflict"}}}
    },
    "PreconditionFailed": {
      "description": "If-Match failed: the head is not that version.",
      "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Conflict"}}}
    },
    "PayloadTooLarge": {
      "description": "The body, the delta, the tags or the JSON nesting is over its limit.",
      "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"}}}
    },
    "ValidationError": {
      "description": "Validation Error",
      "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}
    },
    "StoreUnavailable": {
      "description": "The store is unavailable or damaged.",
      "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"}}}
    },
    "StoreTimeout": {
      "description": "The store's lock timed out, or contention outlasted the retries.",
      "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"}}}
    },
    "FeatureDisabled": {
      "description": "The deployment switched this feature off (ZSIMEM_FEATURES; GET {API_PREFIX}/features).",
      "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"}}}
    }
  }
})json";

Json component_ref(const std::string& target) { return Json{{"$ref", "#/components/" + target}}; }

// A string without control characters (C0 and DEL).
constexpr std::string_view k_printable = R"(^[^\u0000-\u001f\u007f]*$)";

// The name rule of validate_name: 1 to k_max_name_bytes of a small alphabet,
// starting with a letter or digit, without "..".
Json name_schema(std::string_view title, std::string_view example) {
  return Json{
      {"title", title},
      {"type", "string"},
      {"minLength", 1},
      {"maxLength", k_max_name_bytes},
      {"pattern", R"(^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.@+=:~-]{0,)" + std::to_string(k_max_name_bytes - 1) + "}$"},
      {"examples", Json::array({example})}};
}

void add_limit_schemas(Json& schemas) {
  Json user_id = name_schema("UserId", "alice");
  Json reserved = Json::array();
  for (const auto name : reserved_user_ids()) {
    reserved.push_back(name);
  }
  user_id["description"] = "1 to " + std::to_string(k_max_name_bytes) +
                           " bytes of letters, digits and _ - . @ + = : ~, starting with a letter or digit, without "
                           "'..'; the HTTP routes reserve " +
                           reserved.dump() + ".";
  user_id["not"] = Json{{"enum", reserved}};
  schemas["UserId"] = user_id;

  Json ns = name_schema("Namespace", "default");
  ns["description"] = "1 to " + std::to_string(k_max_name_bytes) +
                      " bytes of letters, digits and _ - . @ + = : ~, starting with a letter or digit, without '..'.";
  schemas["Namespace"] = ns;

  schemas["Tag"] =
      Json{{"title", "Tag"},
           {"description", "At most " + std::to_string(k_max_tag_bytes) + " bytes, without control characters."},
           {"type", "string"},
           {"minLength", 1},
           {"maxLength", k_max_tag_bytes},
           {"pattern", k_printable}};
  schemas["Tags"] =
      Json{{"title", "Tags"},
           {"description", "Labels stored with the version (413 beyond " + std::to_string(k_max_tags) + ")."},
           {"type", "array"},
           {"maxItems", k_max_tags},
           {"items", component_ref("schemas/Tag")},
           {"examples", Json::array({Json::array({"nutrition"})})}};
  schemas["IdempotencyKey"] = Json{{"title", "IdempotencyKey"},
                                   {"description", "At most " + std::to_string(k_max_idempotency_key_bytes) +
                                                       " bytes, without control characters; empty means none."},
                                   {"type", "string"},
                                   {"maxLength", k_max_idempotency_key_bytes},
                                   {"pattern", k_printable}};
}

const Json& components() {
  static const Json parsed = [] {
    Json json = Json::parse(k_components);
    add_limit_schemas(json["schemas"]);
    return json;
  }();
  return parsed;
}

// A query parameter given inline.
Json query_param(std::string_view name, std::string_view description, Json schema, bool required = false) {
  Json param{{"name", name}, {"in", "query"}, {"required", required}, {"schema", std::move(schema)}};
  if (!description.empty()) {
    param["description"] = description;
  }
  return param;
}

Json version_query(std::string_view name, std::string_view description, bool required = false) {
  Json param = query_param(name, description, Json{{"type", "string"}, {"pattern", "^0*[1-9][0-9]*$"}}, required);
  if (required) {
    param["example"] = "1";
  }
  return param;
}

// The parameters every operation on a user's context takes.
Json user_params(std::initializer_list<Json> more, bool with_namespace = true) {
  Json params = Json::array({component_ref("parameters/UserIdPath")});
  if (with_namespace) {
    params.push_back(component_ref("parameters/Namespace"));
  }
  for (const auto& param : more) {
    params.push_back(param);
  }
  params.push_back(component_ref("parameters/XRequestId"));
  return params;
}

Json response_headers(std::initializer_list<std::string_view> names) {
  Json headers = Json::object();
  for (const auto name : names) {
    headers[std::string(name)] = component_ref("headers/" + std::string(name));
  }
  return headers;
}

Json ok_response(std::string_view description, Json schema,
                 std::initializer_list<std::string_view> headers = {"X-Request-ID"}) {
  return Json{{"description", description},
              {"headers", response_headers(headers)},
              {"content", {{"application/json", {{"schema", std::move(schema)}}}}}};
}

// The error responses, by status, as components/responses.
const std::map<int, std::string_view>& error_responses() {
  static const std::map<int, std::string_view> k_errors{
      {400, "BadRequest"},       {401, "Unauthorized"},    {403, "Forbidden"},          {404, "NotFound"},
      {405, "MethodNotAllowed"}, {409, "Conflict"},        {412, "PreconditionFailed"}, {413, "PayloadTooLarge"},
      {422, "ValidationError"},  {501, "FeatureDisabled"}, {503, "StoreUnavailable"},   {504, "StoreTimeout"}};
  return k_errors;
}

struct Operation {
  std::string_view id;
  std::string_view tag;
  std::string_view summary;
  std::string_view description;
  Json parameters;
  Json ok;
  std::vector<int> errors;
  Json body = nullptr; // a request body, if any
};

Json operation(const Operation& op) {
  Json json{{"operationId", op.id},
            {"tags", Json::array({op.tag})},
            {"summary", op.summary},
            {"parameters", op.parameters},
            {"responses", {{"200", op.ok}}}};
  if (!op.description.empty()) {
    json["description"] = op.description;
  }
  if (!op.body.is_null()) {
    json["requestBody"] = op.body;
  }
  for (const int status : op.errors) {
    json["responses"][std::to_string(status)] = component_ref("responses/" + std::string(error_responses().at(status)));
  }
  return json;
}

Json json_body(std::string_view schema, const Json& example) {
  return Json{
      {"required", true},
      {"content",
       {{"application/json", {{"schema", component_ref("schemas/" + std::string(schema))}, {"example", example}}}}}};
}

// Every route has all five methods; those it does not serve answer 405.
constexpr std::string_view k_other_methods = "Methods not listed here answer 405 Method Not Allowed.";

Json memory_paths(const std::string& prefix) {
  const std::string memory = prefix + "/memory";
  const std::string user = memory + "/{user_id}";
  Json paths = Json::object();

  paths[user] = Json{
      {"description", k_other_methods},
      {"get",
       operation(
           {"get_memory",
            "memory",
            "Read a context",
            "The head, a given version, or the version current at a time (`date` or `at`).",
            user_params(
                {version_query("version", "This version instead of the head."),
                 query_param("date", "The version current at this time.", component_ref("schemas/TimeQuery")),
                 query_param("at", "As `date` (used when `date` is absent).", component_ref("schemas/TimeQuery"))}),
            ok_response("The context.", component_ref("schemas/UserContext"), {"X-Request-ID", "ETag"}),
            {404, 422, 503, 504}})},
      {"post",
       operation(
           {"merge_memory",
            "memory",
            "Merge a MemoryUpdate",
            "Merges `delta` into the context as an RFC 7396 merge patch, making a new version (or none, "
            "when nothing changes).",
            user_params({query_param("dry_run", "Compute the result without writing it.",
                                     Json{{"type", "boolean"}, {"default", false}}),
                         component_ref("parameters/IfMatch"), component_ref("parameters/IdempotencyKey")}),
            ok_response("The context after the update.", component_ref("schemas/UserContext"),
                        {"X-Request-ID", "ETag", "X-Zsimem-Outcome"}),
            {400, 409, 412, 413, 422, 503, 504},
            json_body("MemoryUpdate",
                      Json{{"user_id", "alice"}, {"delta", {{"diet", {{"kcal", 1800}}}}}, {"tags", {"nutrition"}}})})},
      {"delete",
       operation({"erase_memory",
                  "memory",
                  "Erase a user",
                  "Removes every version of the user's contexts, or of one namespace; the audit log keeps the fact.",
                  user_params({query_param("namespace", "Only this namespace; without it, every namespace of the user.",
                                           component_ref("schemas/Namespace"))},
                              false),
                  ok_response("What was removed.", component_ref("schemas/EraseResult")),
                  {422, 503, 504}})}};

  paths[user + "/history"] = Json{
      {"description", k_other_methods},
      {"get", operation({"get_history",
                         "memory",
                         "List versions",
                         "Versions with their metadata, newest first, a page at a time.",
                         user_params({component_ref("parameters/Limit"),
                                      version_query("cursor", "The previous page's next_cursor: versions before it."),
                                      component_ref("parameters/Since"), component_ref("parameters/Until")}),
                         ok_response("A page of versions.", component_ref("schemas/HistoryPage")),
                         {404, 422, 503, 504}})}};

  paths[user + "/rollback"] = Json{
      {"description", k_other_methods},
      {"post", operation({"rollback_memory",
                          "memory",
                          "Roll back to a version",
                          "Writes a new version whose data is the given version's (none when the head already has it).",
                          user_params({component_ref("parameters/IfMatch")}),
                          ok_response("The context after the rollback.", component_ref("schemas/UserContext"),
                                      {"X-Request-ID", "ETag", "X-Zsimem-Outcome"}),
                          {400, 404, 409, 412, 413, 422, 503, 504},
                          json_body("RollbackRequest", Json{{"version", "1"}})})}};

  paths[user + "/versions/{version}"] = Json{
      {"description", k_other_methods},
      {"get", operation({"get_version",
                         "memory",
                         "Read one version with its metadata",
                         "",
                         [] {
                           Json params = user_params({});
                           params.insert(params.begin() + 1, component_ref("parameters/VersionPath"));
                           return params;
                         }(),
                         ok_response("The version.", component_ref("schemas/VersionRecord"), {"X-Request-ID", "ETag"}),
                         {404, 422, 503, 504}})}};

  paths[user + "/diff"] =
      Json{{"description", k_other_methods},
           {"get", operation({"diff_memory",
                              "memory",
                              "Compare two versions",
                              "",
                              user_params({version_query("from", "The older version.", true),
                                           version_query("to", "The newer version; the head when absent.")}),
                              ok_response("The differences.", component_ref("schemas/DiffResult")),
                              {404, 422, 503, 504}})}};

  paths[user + "/blame"] =
      Json{{"description", k_other_methods},
           {"get", operation({"blame_memory",
                              "memory",
                              "Who last set each field",
                              "",
                              user_params({query_param("path", "Only fields at or under this JSON Pointer.",
                                                       Json{{"type", "string"}, {"pattern", "^(/.*)?$"}})}),
                              ok_response("One entry per leaf field, by path.",
                                          Json{{"type", "array"}, {"items", component_ref("schemas/BlameEntry")}}),
                              {404, 422, 503, 504}})}};

  paths[user + "/events"] =
      Json{{"description", k_other_methods},
           {"get",
            operation({"follow_memory",
                       "memory",
                       "Follow new versions (Server-Sent Events)",
                       "A `text/event-stream` that stays open: each version committed after the starting one, by any "
                       "writer, is an event `version` whose id is the version number and whose data is the "
                       "VersionRecord with `data` and `delta`, in version order. The stream starts after the head, or "
                       "after `Last-Event-ID` (sent by a reconnecting EventSource) or `after` (0: from the first). An "
                       "erased context is announced by an event `erased` (id 0) and followed afresh. A comment is sent "
                       "every 15 s when nothing else is.",
                       [] {
                         Json params =
                             user_params({version_query("after", "Start after this version (0: every version)."),
                                          Json{{"name", "Last-Event-ID"},
                                               {"in", "header"},
                                               {"required", false},
                                               {"description", "As `after`; wins over it."},
                                               {"schema", {{"type", "string"}, {"pattern", "^[0-9]+$"}}}}});
                         params[2]["schema"]["pattern"] = "^[0-9]+$"; // `after` may be 0
                         return params;
                       }(),
                       Json{{"description", "The event stream."},
                            {"headers", response_headers({"X-Request-ID"})},
                            {"content", {{"text/event-stream", {{"schema", {{"type", "string"}}}}}}}},
                       {422, 503, 504}})}};

  paths[user + "/summary"] = Json{
      {"description", k_other_methods},
      {"get",
       operation(
           {"summarize_memory",
            "insights",
            "Summarize numeric fields over time",
            "Per field: count, first, last, min, max, mean and change over the range and per bucket, a "
            "least-squares trend, and progress toward a goal with the date the trend reaches it. The range is "
            "`since` to `until`, or the `window` before `until` (or `as_of`, or now); `as_of` caps `until`, so "
            "a summary as of a past time never changes (docs/summaries.md).",
            user_params(
                {Json{{"name", "field"},
                      {"in", "query"},
                      {"required", true},
                      {"description", "A numeric field, as a JSON Pointer; repeat for more."},
                      {"schema",
                       {{"type", "array"}, {"minItems", 1}, {"items", {{"type", "string"}, {"pattern", "^/"}}}}},
                      {"example", Json::array({"/steps"})}},
                 query_param("bucket", "Group the samples by UTC day, ISO week or month.",
                             Json{{"enum", {"none", "day", "week", "month"}}, {"default", "none"}}),
                 query_param("goal", "A target, as POINTER:NUMBER (/weight:70); repeat for more.",
                             Json{{"type", "array"}, {"items", {{"type", "string"}, {"pattern", "^/.*:.+$"}}}}),
                 query_param("window", "The span before until, as/of or now: a number and s, m, h, d or w (7d, 8w).",
                             Json{{"type", "string"}, {"pattern", "^([0-9]+[hdw])+$"}}),
                 component_ref("parameters/Since"), component_ref("parameters/Until"),
                 query_param("as_of", "Summarize as of this time: until is no later.", Json{{"type", "string"}})}),
            ok_response("The summary.", component_ref("schemas/Summary")),
            {404, 422, 501, 503, 504}})}};

  paths[user + "/namespaces"] =
      Json{{"description", k_other_methods},
           {"get", operation({"list_namespaces",
                              "memory",
                              "List the user's namespaces",
                              "",
                              user_params({}, false),
                              ok_response("The namespaces that have a context.",
                                          Json{{"type", "array"}, {"items", component_ref("schemas/Namespace")}}),
                              {404, 422, 503, 504}})}};

  paths[memory + "/batch"] = Json{
      {"description",
       std::string(k_other_methods) + " `batch` is a reserved user id, so this is not a user's context."},
      {"post",
       operation({"batch",
                  "memory",
                  "Many reads and updates in one request",
                  "Each item's result is reported on its own, with the status a single request would get; with "
                  "`atomic`, the first failure fails the whole request.",
                  Json::array({component_ref("parameters/XRequestId")}),
                  ok_response("One result per item.", component_ref("schemas/BatchResult")),
                  {400, 409, 413, 422, 503, 504},
                  json_body("BatchRequest", Json{{"updates", {{{"user_id", "alice"}, {"delta", {{"steps", 9500}}}}}},
                                                 {"reads", {{{"user_id", "alice"}}}}})})}};

  paths[memory + "/logs"] = Json{
      {"description", std::string(k_other_methods) + " `logs` is a reserved user id, so this is not a user's context."},
      {"get",
       operation({"audit_log",
                  "audit",
                  "Read the audit log",
                  "Audit records, newest first, a page at a time.",
                  Json::array({query_param("user_id", "Only this user's records.", Json{{"type", "string"}}),
                               query_param("namespace", "Only this namespace's records.", Json{{"type", "string"}}),
                               component_ref("parameters/Since"), component_ref("parameters/Until"),
                               component_ref("parameters/Limit"),
                               version_query("cursor", "The previous page's next_cursor: records before it."),
                               component_ref("parameters/XRequestId")}),
                  ok_response("A page of audit records.", component_ref("schemas/AuditPage")),
                  {422, 503, 504}})}};

  // Under a policy every memory operation needs a token (401) and the right (403).
  for (Json& item : paths) {
    for (const auto& method : {"get", "post", "delete"}) {
      if (item.contains(method)) {
        Json& responses = item[method]["responses"];
        for (const int status : {401, 403}) {
          responses[std::to_string(status)] = component_ref("responses/" + std::string(error_responses().at(status)));
        }
      }
    }
  }
  return paths;
}

} // namespace

Json openapi_document(const ServerOptions& options) {
  Json paths = memory_paths(options.api_prefix);
  paths["/healthz"] = Json{{"description", k_other_methods},
                           {"get", operation({"healthz",
                                              "service",
                                              "Liveness",
                                              "",
                                              Json::array({component_ref("parameters/XRequestId")}),
                                              ok_response("The daemon is serving.", component_ref("schemas/Health")),
                                              {}})}};
  // The one route open to anyone: a load balancer's probe has no token.
  paths["/healthz"]["get"]["security"] = Json::array();
  paths["/metrics"] = Json{{"description", k_other_methods},
                           {"get", operation({"metrics",
                                              "service",
                                              "Prometheus metrics",
                                              "Requests by route, method and status, their latency, store operation "
                                              "latency, versions written and conflicts, in the Prometheus text format "
                                              "0.0.4.",
                                              Json::array({component_ref("parameters/XRequestId")}),
                                              Json{{"description", "The metrics."},
                                                   {"headers", response_headers({"X-Request-ID"})},
                                                   {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}},
                                              {401}})}};
  paths[options.api_prefix + "/users"] = Json{
      {"description", k_other_methods},
      {"get",
       operation({"list_users",
                  "memory",
                  "List the users that have a context",
                  "Sorted user ids; needs the admin permission. The web console's list of users.",
                  Json::array({component_ref("parameters/XRequestId")}),
                  ok_response("The user ids.", Json{{"type", "array"}, {"items", component_ref("schemas/UserId")}}),
                  {401, 403, 503, 504}})}};
  // The web console's files: open to anyone, like /healthz; the data they
  // show comes from the API, with the API's token (docs/console.md).
  const auto ui_file = [](std::string_view description, std::string_view media_type) {
    return Json{{"description", description},
                {"headers", response_headers({"X-Request-ID"})},
                {"content", {{media_type, {{"schema", {{"type", "string"}}}}}}}};
  };
  paths["/ui"] = Json{{"description", k_other_methods},
                      {"get", operation({"console",
                                         "console",
                                         "The web console",
                                         "A page over this API: users, contexts, timelines, diffs, rollback, the "
                                         "audit log and charts (docs/console.md).",
                                         Json::array({component_ref("parameters/XRequestId")}),
                                         ui_file("The console's page.", "text/html"),
                                         {}})}};
  paths["/ui"]["get"]["security"] = Json::array();
  paths["/ui/{asset}"] = Json{{"description", k_other_methods},
                              {"get", operation({"console_asset",
                                                 "console",
                                                 "One of the web console's files",
                                                 "",
                                                 Json::array({Json{{"name", "asset"},
                                                                   {"in", "path"},
                                                                   {"required", true},
                                                                   {"schema", {{"type", "string"}}},
                                                                   {"example", "app.js"}},
                                                              component_ref("parameters/XRequestId")}),
                                                 ui_file("The file (app.js, app.css, index.html).", "text/javascript"),
                                                 {404}})}};
  paths["/ui/{asset}"]["get"]["security"] = Json::array();
  paths[options.api_prefix + "/features"] = Json{
      {"description", k_other_methods},
      {"get", operation({"features",
                         "service",
                         "Which features are on",
                         "Each feature this deployment may switch off (ZSIMEM_FEATURES, `--feature`), and whether it "
                         "is on. A switched-off feature's operations answer 501 (docs/features.md).",
                         Json::array({component_ref("parameters/XRequestId")}),
                         ok_response("Feature names and whether each is on.", component_ref("schemas/Features")),
                         {401}})}};
  paths[options.api_prefix + "/hooks"] = Json{
      {"description", k_other_methods},
      {"get", operation({"hooks_status",
                         "insights",
                         "The hooks' lag and failures",
                         "For each hook of the hooks file the daemon delivers to (`serve --hooks`): the contexts it "
                         "follows, the versions not yet handed over, the contexts waiting to retry, and the dead "
                         "letters (docs/hooks.md). Needs the admin permission; 501 with the hooks feature off.",
                         Json::array({component_ref("parameters/XRequestId")}),
                         ok_response("Each hook's status.", component_ref("schemas/HooksStatus")),
                         {401, 403, 501, 503, 504}})}};
  paths["/openapi.json"] =
      Json{{"description", k_other_methods},
           {"get", operation({"openapi",
                              "service",
                              "This document",
                              "",
                              Json::array({component_ref("parameters/XRequestId")}),
                              ok_response("The OpenAPI 3.1 document of this API.", Json{{"type", "object"}}),
                              {401}})}};
  return Json{
      {"openapi", "3.1.0"},
      {"info",
       {{"title", "zsimem"},
        {"version", ZSIMEM_VERSION},
        {"summary", "A versioned per-user JSON context store."},
        {"description", "The HTTP API of `zsimem serve` (docs/http-api.md): the same operations and semantics as the "
                        "CLI, on the same store. Errors have FastAPI's `{\"detail\": ...}` shapes. Every response "
                        "carries X-Request-ID. With an access policy, every request needs a bearer token (bearerAuth; "
                        "docs/security.md) but `GET /healthz` and the web console's files under `/ui`."}}},
      {"tags", Json::array({Json{{"name", "memory"}, {"description", "Contexts, their versions and their history."}},
                            Json{{"name", "insights"},
                                 {"description", "Summaries and forecasts of a history, and the hooks' delivery."}},
                            Json{{"name", "audit"}, {"description", "The audit log."}},
                            Json{{"name", "service"}, {"description", "The daemon itself."}},
                            Json{{"name", "console"}, {"description", "The web console (docs/console.md)."}}})},
      {"paths", paths},
      {"components", components()},
      {"security", Json::array({Json{{"bearerAuth", Json::array()}}})}};
}

} // namespace zsimem::daemon
