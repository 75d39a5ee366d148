// The postgres backend: tables in one schema of a PostgreSQL database
// (docs/postgres.md), reached with libpq. Each write is one call of a
// PL/pgSQL function created in the schema, so one round trip and one
// transaction; each read is one statement.
#include "store/backends.hpp"
#include "store/head_hints.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/time.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <libpq-fe.h>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <poll.h>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace zsimem::store {
namespace {

constexpr std::string_view k_default_schema = "zsimem";
// A schema name plus "_versions" (the notification channel) must fit
// PostgreSQL's 63-byte identifiers.
constexpr std::size_t k_max_schema_length = 54;
// Connections of a long-lived store (the daemon); a one-shot store keeps one.
constexpr std::size_t k_max_connections = 8;
constexpr std::int64_t k_int_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t k_int_min = std::numeric_limits<std::int64_t>::min();
// Raised by the schema's functions when an append must not happen (the
// head moved, a data key is missing): append() then returns false.
constexpr std::string_view k_refused_state = "ZS001";
// Raised by the prune function when the range holds the context's head.
constexpr std::string_view k_holds_head_state = "ZS002";

// One step of the schema: applied to a schema at version `to_version - 1`
// it brings it to `to_version`. `@S` stands for the quoted schema, `@N` for
// its name as a string literal. Add steps, never edit them.
struct Migration {
  int to_version;
  const char* sql;
};

// Text columns that keys sort by use the "C" collation: byte order, as the
// other backends sort, whatever the database's locale.
constexpr std::array k_migrations{
    Migration{1, R"sql(
CREATE TABLE @S.versions (
  user_id text COLLATE "C" NOT NULL,
  ns text COLLATE "C" NOT NULL,
  version bigint NOT NULL,
  updated_at bigint NOT NULL,
  data text NOT NULL,
  delta text NOT NULL,
  actor text NOT NULL,
  request_id text NOT NULL,
  tags text NOT NULL,
  derived_from bigint NOT NULL,
  rollback_of bigint,
  idempotency_key text COLLATE "C",
  prev_hash text NOT NULL,
  hash text NOT NULL,
  salt text NOT NULL,
  key_id text NOT NULL,
  PRIMARY KEY (user_id, ns, version)
);
CREATE INDEX versions_by_idempotency_key ON @S.versions (user_id, ns, idempotency_key, version)
  WHERE idempotency_key IS NOT NULL;
CREATE TABLE @S.contexts (
  user_id text COLLATE "C" NOT NULL,
  ns text COLLATE "C" NOT NULL,
  head bigint NOT NULL,
  hash text NOT NULL,
  PRIMARY KEY (user_id, ns)
);
CREATE TABLE @S.audit (
  seq bigint PRIMARY KEY,
  "time" bigint NOT NULL,
  request_id text NOT NULL,
  actor text NOT NULL,
  operation text NOT NULL,
  user_id text COLLATE "C" NOT NULL,
  ns text COLLATE "C" NOT NULL,
  version text NOT NULL,
  outcome text NOT NULL,
  detail text NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX audit_by_user ON @S.audit (user_id, seq);
CREATE TABLE @S.audit_head (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  seq bigint NOT NULL,
  hash text NOT NULL
);
INSERT INTO @S.audit_head (one, seq, hash) VALUES (true, 0, '');
CREATE TABLE @S.data_keys (
  user_id text COLLATE "C" NOT NULL,
  generation bigint NOT NULL,
  master_key_id text NOT NULL,
  wrapped text NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (user_id, generation)
);

-- One field of the audit hash's input, as hash_chain.cpp writes it.
CREATE FUNCTION @S.hash_field(v text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS
$fn$ SELECT octet_length(convert_to(v, 'UTF8'))::text || ':' || v || E'\n' $fn$;

-- Appends versions (a JSON array of versions rows) and audit records (a JSON
-- array), all or nothing; raises ZS001 when an append must not happen.
CREATE FUNCTION @S.append(p_records json, p_audit json, p_durable boolean) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  v_rows @S.versions[];
  v_context record;
  v_audit record;
  v_count bigint;
  v_seq bigint;
  v_hash text;
  v_prev text;
BEGIN
  IF NOT p_durable THEN
    -- Reads' audit records: committed without waiting for the WAL flush.
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  v_rows := ARRAY(SELECT r FROM json_populate_recordset(NULL::@S.versions, p_records) AS r);
  IF cardinality(v_rows) > 0 THEN
    -- Shared with other appends, exclusive for erase(): an erasure of a
    -- user waits for its appends in flight, and they for it.
    PERFORM pg_advisory_xact_lock_shared(hashtext(@N), hashtext(u.user_id))
      FROM (SELECT DISTINCT r.user_id FROM unnest(v_rows) AS r ORDER BY 1) AS u;
    IF EXISTS (SELECT 1 FROM unnest(v_rows) AS r WHERE r.key_id <> '' AND NOT EXISTS (
        SELECT 1 FROM @S.data_keys AS k WHERE k.user_id = r.user_id AND k.generation::text = r.key_id)) THEN
      RAISE EXCEPTION 'a version is sealed with a data key its user does not have' USING ERRCODE = 'ZS001';
    END IF;
    -- The compare-and-swap of each context's head, in key order so that two
    -- batches never wait for each other crosswise.
    FOR v_context IN
      SELECT r.user_id, r.ns, min(r.version) AS first_version, max(r.version) AS last_version
      FROM unnest(v_rows) AS r GROUP BY r.user_id, r.ns ORDER BY r.user_id, r.ns
    LOOP
      IF v_context.first_version = 1 THEN
        INSERT INTO @S.contexts (user_id, ns, head, hash)
          SELECT r.user_id, r.ns, r.version, r.hash FROM unnest(v_rows) AS r
          WHERE r.user_id = v_context.user_id AND r.ns = v_context.ns AND r.version = v_context.last_version
          LIMIT 1
        ON CONFLICT DO NOTHING;
      ELSE
        UPDATE @S.contexts AS c SET head = v_context.last_version,
          hash = (SELECT r.hash FROM unnest(v_rows) AS r WHERE r.user_id = v_context.user_id
                  AND r.ns = v_context.ns AND r.version = v_context.last_version LIMIT 1)
        WHERE c.user_id = v_context.user_id AND c.ns = v_context.ns AND c.head = v_context.first_version - 1
          AND c.hash = (SELECT r.prev_hash FROM unnest(v_rows) AS r WHERE r.user_id = v_context.user_id
                        AND r.ns = v_context.ns AND r.version = v_context.first_version LIMIT 1);
      END IF;
      GET DIAGNOSTICS v_count = ROW_COUNT;
      IF v_count <> 1 THEN
        RAISE EXCEPTION 'version % of %/% does not follow the stored head', v_context.first_version,
          v_context.user_id, v_context.ns USING ERRCODE = 'ZS001';
      END IF;
    END LOOP;
    -- The key (user_id, ns, version) is unique: a second guard.
    INSERT INTO @S.versions SELECT * FROM unnest(v_rows);
    PERFORM pg_notify(@N || '_versions', r.user_id || '/' || r.ns || '/' || r.version::text)
      FROM unnest(v_rows) AS r;
  END IF;
  IF json_array_length(p_audit) > 0 THEN
    -- One order of the audit log across every process: the head row's lock.
    SELECT h.seq, h.hash INTO v_seq, v_hash FROM @S.audit_head AS h FOR UPDATE;
    FOR v_audit IN
      SELECT * FROM json_to_recordset(p_audit) AS a("time" bigint, request_id text, actor text, operation text,
        user_id text, ns text, version text, outcome text, detail text)
    LOOP
      v_seq := v_seq + 1;
      v_prev := v_hash;
      v_hash := encode(sha256(convert_to('zsimem-audit-1' || E'\n' || @S.hash_field(v_audit."time"::text)
        || @S.hash_field(v_audit.request_id) || @S.hash_field(v_audit.actor) || @S.hash_field(v_audit.operation)
        || @S.hash_field(v_audit.user_id) || @S.hash_field(v_audit.ns) || @S.hash_field(v_audit.version)
        || @S.hash_field(v_audit.outcome) || @S.hash_field(v_audit.detail) || @S.hash_field(v_prev), 'UTF8')), 'hex');
      INSERT INTO @S.audit (seq, "time", request_id, actor, operation, user_id, ns, version, outcome, detail,
                            prev_hash, hash)
        VALUES (v_seq, v_audit."time", v_audit.request_id, v_audit.actor, v_audit.operation, v_audit.user_id,
                v_audit.ns, v_audit.version, v_audit.outcome, v_audit.detail, v_prev, v_hash);
    END LOOP;
    UPDATE @S.audit_head SET seq = v_seq, hash = v_hash;
  END IF;
END
$fn$;

-- Removes a namespace's versions, or a whole user's (p_ns NULL) and its data
-- keys; returns how many versions went.
CREATE FUNCTION @S.erase(p_user text, p_ns text) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
  v_count bigint;
  v_keys bigint := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(@N), hashtext(p_user));
  -- The contexts rows first: under READ COMMITTED an append that updated
  -- one has committed before this DELETE goes on (and its versions, seen by
  -- the next statement's fresh snapshot, are removed below), or it waits for
  -- this transaction and then finds no row to update and fails.
  IF p_ns IS NULL THEN
    DELETE FROM @S.contexts AS c WHERE c.user_id = p_user;
    DELETE FROM @S.versions AS v WHERE v.user_id = p_user;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    DELETE FROM @S.data_keys AS k WHERE k.user_id = p_user;
    GET DIAGNOSTICS v_keys = ROW_COUNT;
    IF v_count > 0 OR v_keys > 0 THEN
      PERFORM pg_notify(@N || '_versions', p_user || '/');
    END IF;
  ELSE
    DELETE FROM @S.contexts AS c WHERE c.user_id = p_user AND c.ns = p_ns;
    DELETE FROM @S.versions AS v WHERE v.user_id = p_user AND v.ns = p_ns;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    IF v_count > 0 THEN
      PERFORM pg_notify(@N || '_versions', p_user || '/' || p_ns);
    END IF;
  END IF;
  RETURN v_count;
END
$fn$;
)sql"},
    // Retention: gap records (pruned_through set) stand for removed versions.
    Migration{2, R"sql(
ALTER TABLE @S.versions ADD COLUMN pruned_through bigint;

-- As in version 1, but a batch that ends with a gap record (an import of a
-- pruned history) leaves as its context's head the last version the gap
-- stands for, which the next version follows.
CREATE OR REPLACE FUNCTION @S.append(p_records json, p_audit json, p_durable boolean) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  v_rows @S.versions[];
  v_context record;
  v_audit record;
  v_count bigint;
  v_head bigint;
  v_head_hash text;
  v_seq bigint;
  v_hash text;
  v_prev text;
BEGIN
  IF NOT p_durable THEN
    -- Reads' audit records: committed without waiting for the WAL flush.
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  v_rows := ARRAY(SELECT r FROM json_populate_recordset(NULL::@S.versions, p_records) AS r);
  IF cardinality(v_rows) > 0 THEN
    -- Shared with other appends, exclusive for erase(): an erasure of a
    -- user waits for its appends in flight, and they for it.
    PERFORM pg_advisory_xact_lock_shared(hashtext(@N), hashtext(u.user_id))
      FROM (SELECT DISTINCT r.user_id FROM unnest(v_rows) AS r ORDER BY 1) AS u;
    IF EXISTS (SELECT 1 FROM unnest(v_rows) AS r WHERE r.key_id <> '' AND NOT EXISTS (
        SELECT 1 FROM @S.data_keys AS k WHERE k.user_id = r.user_id AND k.generation::text = r.key_id)) THEN
      RAISE EXCEPTION 'a version is sealed with a data key its user does not have' USING ERRCODE = 'ZS001';
    END IF;
    -- The compare-and-swap of each context's head, in key order so that two
    -- batches never wait for each other crosswise.
    FOR v_context IN
      SELECT r.user_id, r.ns, min(r.version) AS first_version, max(r.version) AS last_version
      FROM unnest(v_rows) AS r GROUP BY r.user_id, r.ns ORDER BY r.user_id, r.ns
    LOOP
      SELECT coalesce(r.pruned_through, r.version), r.hash INTO v_head, v_head_hash FROM unnest(v_rows) AS r
        WHERE r.user_id = v_context.user_id AND r.ns = v_context.ns AND r.version = v_context.last_version LIMIT 1;
      IF v_context.first_version = 1 THEN
        INSERT INTO @S.contexts (user_id, ns, head, hash) VALUES (v_context.user_id, v_context.ns, v_head, v_head_hash)
        ON CONFLICT DO NOTHING;
      ELSE
        UPDATE @S.contexts AS c SET head = v_head, hash = v_head_hash
        WHERE c.user_id = v_context.user_id AND c.ns = v_context.ns AND c.head = v_context.first_version - 1
          AND c.hash = (SELECT r.prev_hash FROM unnest(v_rows) AS r WHERE r.user_id = v_context.user_id
                        AND r.ns = v_context.ns AND r.version = v_context.first_version LIMIT 1);
      END IF;
      GET DIAGNOSTICS v_count = ROW_COUNT;
      IF v_count <> 1 THEN
        RAISE EXCEPTION 'version % of %/% does not follow the stored head', v_context.first_version,
          v_context.user_id, v_context.ns USING ERRCODE = 'ZS001';
      END IF;
    END LOOP;
    -- The key (user_id, ns, version) is unique: a second guard.
    INSERT INTO @S.versions SELECT * FROM unnest(v_rows);
    PERFORM pg_notify(@N || '_versions', r.user_id || '/' || r.ns || '/' || r.version::text)
      FROM unnest(v_rows) AS r;
  END IF;
  IF json_array_length(p_audit) > 0 THEN
    -- One order of the audit log across every process: the head row's lock.
    SELECT h.seq, h.hash INTO v_seq, v_hash FROM @S.audit_head AS h FOR UPDATE;
    FOR v_audit IN
      SELECT * FROM json_to_recordset(p_audit) AS a("time" bigint, request_id text, actor text, operation text,
        user_id text, ns text, version text, outcome text, detail text)
    LOOP
      v_seq := v_seq + 1;
      v_prev := v_hash;
      v_hash := encode(sha256(convert_to('zsimem-audit-1' || E'\n' || @S.hash_field(v_audit."time"::text)
        || @S.hash_field(v_audit.request_id) || @S.hash_field(v_audit.actor) || @S.hash_field(v_audit.operation)
        || @S.hash_field(v_audit.user_id) || @S.hash_field(v_audit.ns) || @S.hash_field(v_audit.version)
        || @S.hash_field(v_audit.outcome) || @S.hash_field(v_audit.detail) || @S.hash_field(v_prev), 'UTF8')), 'hex');
      INSERT INTO @S.audit (seq, "time", request_id, actor, operation, user_id, ns, version, outcome, detail,
                            prev_hash, hash)
        VALUES (v_seq, v_audit."time", v_audit.request_id, v_audit.actor, v_audit.operation, v_audit.user_id,
                v_audit.ns, v_audit.version, v_audit.outcome, v_audit.detail, v_prev, v_hash);
    END LOOP;
    UPDATE @S.audit_head SET seq = v_seq, hash = v_hash;
  END IF;
END
$fn$;

-- Replaces the records of versions version..pruned_through of a context by
-- the gap record p_gap (a JSON array of one versions row); returns how many
-- records it removed or replaced. Writes nothing to an erased context, nor
-- when no record is left in the range; raises ZS002 when the range holds
-- the context's head.
CREATE FUNCTION @S.prune(p_gap json) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
  v_gap @S.versions;
  v_head bigint;
  v_count bigint;
BEGIN
  SELECT * INTO STRICT v_gap FROM json_populate_recordset(NULL::@S.versions, p_gap);
  -- Shared like an append's, so that an erasure of the user and this wait
  -- for each other; then one pruning of a context at a time, so that two
  -- overlapping ones leave one gap, not two.
  PERFORM pg_advisory_xact_lock_shared(hashtext(@N), hashtext(v_gap.user_id));
  PERFORM pg_advisory_xact_lock(hashtext(@N || '_prune'), hashtext(v_gap.user_id || '/' || v_gap.ns));
  SELECT c.head INTO v_head FROM @S.contexts AS c WHERE c.user_id = v_gap.user_id AND c.ns = v_gap.ns;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  IF v_head <= v_gap.pruned_through THEN
    RAISE EXCEPTION 'cannot prune versions % to % of %/%: version % is its head', v_gap.version,
      v_gap.pruned_through, v_gap.user_id, v_gap.ns, v_head USING ERRCODE = 'ZS002';
  END IF;
  -- Never narrow a gap that another prune widened: what it stands for
  -- beyond this one's range is gone already.
  IF EXISTS (SELECT 1 FROM @S.versions AS v WHERE v.user_id = v_gap.user_id AND v.ns = v_gap.ns
             AND v.version = v_gap.version AND v.pruned_through > v_gap.pruned_through) THEN
    RETURN 0;
  END IF;
  DELETE FROM @S.versions AS v WHERE v.user_id = v_gap.user_id AND v.ns = v_gap.ns
    AND v.version BETWEEN v_gap.version AND v_gap.pruned_through;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  -- Nothing left to stand for: an earlier, wider gap covers the range.
  IF v_count > 0 THEN
    INSERT INTO @S.versions SELECT (v_gap).*;
  END IF;
  RETURN v_count;
END
$fn$;
)sql"},
    // Hooks: where each hook's delivery of each context stands.
    Migration{3, R"sql(
CREATE TABLE @S.hook_cursors (
  hook text COLLATE "C" NOT NULL,
  user_id text COLLATE "C" NOT NULL,
  ns text COLLATE "C" NOT NULL,
  revision bigint NOT NULL,
  state text NOT NULL,
  PRIMARY KEY (hook, user_id, ns)
);
CREATE INDEX hook_cursors_by_context ON @S.hook_cursors (user_id, ns);

-- As in version 1, and the erased contexts' hook cursors go too (of
-- contexts without versions as well), so that a context started again is
-- delivered from its new version 1.
CREATE OR REPLACE FUNCTION @S.erase(p_user text, p_ns text) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
  v_count bigint;
  v_keys bigint := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(@N), hashtext(p_user));
  -- The contexts rows first: under READ COMMITTED an append that updated
  -- one has committed before this DELETE goes on (and its versions, seen by
  -- the next statement's fresh snapshot, are removed below), or it waits for
  -- this transaction and then finds no row to update and fails.
  IF p_ns IS NULL THEN
    DELETE FROM @S.contexts AS c WHERE c.user_id = p_user;
    DELETE FROM @S.versions AS v WHERE v.user_id = p_user;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    DELETE FROM @S.data_keys AS k WHERE k.user_id = p_user;
    GET DIAGNOSTICS v_keys = ROW_COUNT;
    DELETE FROM @S.hook_cursors AS h WHERE h.user_id = p_user;
    IF v_count > 0 OR v_keys > 0 THEN
      PERFORM pg_notify(@N || '_versions', p_user || '/');
    END IF;
  ELSE
    DELETE FROM @S.contexts AS c WHERE c.user_id = p_user AND c.ns = p_ns;
    DELETE FROM @S.versions AS v WHERE v.user_id = p_user AND v.ns = p_ns;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    DELETE FROM @S.hook_cursors AS h WHERE h.user_id = p_user AND h.ns = p_ns;
    IF v_count > 0 THEN
      PERFORM pg_notify(@N || '_versions', p_user || '/' || p_ns);
    END IF;
  END IF;
  RETURN v_count;
END
$fn$;
)sql"},
};

constexpr int k_schema_version = k_migrations.back().to_version;

#define ZSIMEM_VERSION_COLUMNS                                                                                         \
  "user_id, ns, version, updated_at, data, delta, actor, request_id, tags, derived_from, "                             \
  "rollback_of, idempotency_key, prev_hash, hash, salt, key_id, pruned_through"
#define ZSIMEM_DATA_KEY_COLUMNS "user_id, generation, master_key_id, wrapped, created_at"
#define ZSIMEM_HOOK_CURSOR_COLUMNS "hook, user_id, ns, revision, state"
#define ZSIMEM_AUDIT_COLUMNS                                                                                           \
  "seq, \"time\", request_id, actor, operation, user_id, ns, version, outcome, detail, prev_hash, hash"

// The statements of the store; `@S` stands for the quoted schema.
enum class Sql : std::size_t {
  head,
  version,
  version_at,
  history_newest,
  history_oldest,
  find_idempotency_key,
  append,
  erase,
  prune,
  prune_audit,
  data_keys_all,
  data_keys_of_user,
  insert_data_key,
  rewrap_data_key,
  hook_cursor,
  insert_hook_cursor,
  update_hook_cursor,
  hook_cursors_all,
  hook_cursors_of_hook,
  remove_hook_cursors,
  contexts_all,
  contexts_of_user,
  audit_all,
  audit_of_user,
  count,
};

constexpr std::array<const char*, static_cast<std::size_t>(Sql::count)> k_sql{
    "SELECT " ZSIMEM_VERSION_COLUMNS " FROM @S.versions WHERE user_id = $1 AND ns = $2"
    " ORDER BY version DESC LIMIT 1",
    "SELECT " ZSIMEM_VERSION_COLUMNS " FROM @S.versions WHERE user_id = $1 AND ns = $2 AND version = $3::bigint",
    "SELECT " ZSIMEM_VERSION_COLUMNS " FROM @S.versions WHERE user_id = $1 AND ns = $2"
    " AND updated_at <= $3::bigint ORDER BY version DESC LIMIT 1",
    "SELECT " ZSIMEM_VERSION_COLUMNS " FROM @S.versions WHERE user_id = $1 AND ns = $2 AND version < $3::bigint"
    " AND updated_at >= $4::bigint AND updated_at <= $5::bigint ORDER BY version DESC LIMIT $6::bigint",
    "SELECT " ZSIMEM_VERSION_COLUMNS " FROM @S.versions WHERE user_id = $1 AND ns = $2 AND version > $3::bigint"
    " AND updated_at >= $4::bigint AND updated_at <= $5::bigint ORDER BY version ASC LIMIT $6::bigint",
    "SELECT " ZSIMEM_VERSION_COLUMNS " FROM @S.versions WHERE user_id = $1 AND ns = $2 AND idempotency_key = $3"
    " ORDER BY version ASC LIMIT 1",
    "SELECT @S.append($1::json, $2::json, $3::boolean)",
    "SELECT @S.erase($1::text, $2::text)",
    "SELECT @S.prune($1::json)",
    "DELETE FROM @S.audit WHERE seq <= $1::bigint",
    "SELECT " ZSIMEM_DATA_KEY_COLUMNS " FROM @S.data_keys ORDER BY user_id, generation",
    "SELECT " ZSIMEM_DATA_KEY_COLUMNS " FROM @S.data_keys WHERE user_id = $1 ORDER BY generation",
    "INSERT INTO @S.data_keys (" ZSIMEM_DATA_KEY_COLUMNS ") VALUES ($1, $2::bigint, $3, $4, $5::bigint)"
    " ON CONFLICT DO NOTHING",
    "UPDATE @S.data_keys SET master_key_id = $3, wrapped = $4 WHERE user_id = $1 AND generation = $2::bigint"
    " AND wrapped = $5",
    "SELECT " ZSIMEM_HOOK_CURSOR_COLUMNS " FROM @S.hook_cursors WHERE hook = $1 AND user_id = $2 AND ns = $3",
    // A compare and set each: the primary key admits one first revision, and
    // a concurrent UPDATE re-checks the revision once the winner committed.
    "INSERT INTO @S.hook_cursors (" ZSIMEM_HOOK_CURSOR_COLUMNS ") VALUES ($1, $2, $3, $4::bigint, $5)"
    " ON CONFLICT DO NOTHING",
    "UPDATE @S.hook_cursors SET revision = $4::bigint, state = $5 WHERE hook = $1 AND user_id = $2 AND ns = $3"
    " AND revision = $4::bigint - 1",
    "SELECT " ZSIMEM_HOOK_CURSOR_COLUMNS " FROM @S.hook_cursors ORDER BY hook, user_id, ns",
    "SELECT " ZSIMEM_HOOK_CURSOR_COLUMNS " FROM @S.hook_cursors WHERE hook = $1 ORDER BY user_id, ns",
    "DELETE FROM @S.hook_cursors WHERE hook = $1",
    "SELECT user_id, ns FROM @S.contexts ORDER BY user_id, ns",
    "SELECT user_id, ns FROM @S.contexts WHERE user_id = $1 ORDER BY ns",
    "SELECT " ZSIMEM_AUDIT_COLUMNS " FROM @S.audit WHERE seq < $1::bigint AND \"time\" >= $2::bigint"
    " AND \"time\" <= $3::bigint AND ($4::text IS NULL OR ns = $4::text) ORDER BY seq DESC LIMIT $5::bigint",
    "SELECT " ZSIMEM_AUDIT_COLUMNS " FROM @S.audit WHERE user_id = $6 AND seq < $1::bigint AND \"time\" >= $2::bigint"
    " AND \"time\" <= $3::bigint AND ($4::text IS NULL OR ns = $4::text) ORDER BY seq DESC LIMIT $5::bigint",
};

#undef ZSIMEM_VERSION_COLUMNS
#undef ZSIMEM_AUDIT_COLUMNS
#undef ZSIMEM_DATA_KEY_COLUMNS
#undef ZSIMEM_HOOK_CURSOR_COLUMNS

// Versions and limits beyond bigint's range mean "no bound".
std::int64_t clamp_to_int64(std::uint64_t value) {
  return value > static_cast<std::uint64_t>(k_int_max) ? k_int_max : static_cast<std::int64_t>(value);
}

bool is_plausible_time(std::int64_t micros) {
  constexpr std::int64_t k_first = -62'167'219'200'000'000; // 0000-01-01T00:00:00Z
  constexpr std::int64_t k_end = 253'402'300'800'000'000;   // 10000-01-01T00:00:00Z
  return micros >= k_first && micros < k_end;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// libpq's messages end in newlines and indent their second lines.
std::string one_line(std::string_view message) {
  std::string out;
  for (const char c : message) {
    if (c == '\n' || c == '\t' || c == '\r') {
      if (!out.empty() && out.back() != ' ') {
        out += ' ';
      }
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();
  }
  return out;
}

// A key for pg_advisory_xact_lock(bigint), from the schema's name: FNV-1a.
std::int64_t schema_lock_key(std::string_view schema) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : std::string("zsimem-schema:") + std::string(schema)) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  return static_cast<std::int64_t>(h);
}

bool is_valid_schema_name(std::string_view name) {
  if (name.empty() || name.size() > k_max_schema_length) {
    return false;
  }
  const auto lower_or_underscore = [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!lower_or_underscore(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [&](char c) { return lower_or_underscore(c) || digit(c); });
}

// A failed statement, inside the store only: turned into an Error (or a
// refused append) before it leaves.
struct PgFailure {
  std::string sqlstate; // empty when the server did not say
  std::string message;
  bool broken = false; // the connection is unusable
};

using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;

// One libpq connection and which statements it has prepared; used by one
// thread at a time (the pool hands it out).
struct Connection {
  explicit Connection(PGconn* handle) : conn(handle) {}
  ~Connection() { PQfinish(conn); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  PGconn* conn;
  std::array<bool, static_cast<std::size_t>(Sql::count)> prepared{};
  bool reused = false; // it served an earlier call: it may have died idle
};

// A parameter of a statement: text, or NULL.
using Param = std::optional<std::string>;

class PostgresStore final : public MemoryStore {
public:
  PostgresStore(std::string url, std::string schema, bool long_lived);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  std::string_view backend_name() const override { return "postgres"; }

  std::optional<VersionRecord> head(const ContextKey& key) override;
  std::optional<VersionRecord> head_hint(const ContextKey& key) override { return m_hints.find(key); }
  std::optional<VersionRecord> version(const ContextKey& key, std::uint64_t version) override;
  std::optional<VersionRecord> version_at(const ContextKey& key, Timestamp at) override;
  std::vector<VersionRecord> history(const ContextKey& key, const HistoryQuery& query) override;
  std::optional<VersionRecord> find_idempotency_key(const ContextKey& key, std::string_view idempotency_key) override;

  bool append(std::span<const VersionRecord> records, std::span<const AuditRecord> audit) override;
  bool supports_atomic_batches() const override { return true; }
  WriteStats write_stats() const override { return {m_transactions.load(), m_writes.load()}; }

  std::size_t erase(std::string_view user_id, std::optional<std::string_view> ns) override;
  std::size_t prune(const VersionRecord& gap) override;
  std::size_t prune_audit(std::uint64_t through_seq) override;
  std::vector<ContextKey> contexts(std::optional<std::string_view> user_id) override;

  std::vector<DataKeyRecord> data_keys(std::optional<std::string_view> user_id) override;
  bool add_data_key(const DataKeyRecord& key) override;
  bool rewrap_data_key(const DataKeyRecord& key, std::string_view expected_wrapped) override;

  std::optional<HookCursor> hook_cursor(std::string_view hook, const ContextKey& context) override;
  bool put_hook_cursor(const HookCursor& cursor) override;
  std::vector<HookCursor> hook_cursors(std::optional<std::string_view> hook) override;
  std::size_t remove_hook_cursors(std::string_view hook) override;

  void append_audit(std::span<const AuditRecord> records, bool durable) override;
  std::vector<AuditRecord> audit_log(const AuditQuery& query) override;

  bool listen_for_commits(CommitListener listener) override;

private:
  // Hands a pooled connection to one call and takes it back after.
  class Lease {
  public:
    Lease(PostgresStore& store, std::unique_ptr<Connection> connection)
        : m_store(store), m_connection(std::move(connection)) {}
    ~Lease() { m_store.give_back(std::move(m_connection)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    Connection& operator*() { return *m_connection; }
    Connection* operator->() { return m_connection.get(); }
    // Drops a broken connection: the next call makes a new one.
    void discard() { m_connection.reset(); }

  private:
    PostgresStore& m_store;
    std::unique_ptr<Connection> m_connection;
  };

  std::unique_ptr<Connection> connect();
  std::unique_ptr<Connection> take();
  void give_back(std::unique_ptr<Connection> connection);

  // Runs `fn(Connection&)` on a pooled connection, turning failures into
  // Error. A read (`idempotent`) that finds its reused connection dead is
  // tried once more on a new one.
  template <typename Fn> auto with_connection(bool idempotent, bool write, Fn&& fn) {
    for (int attempt = 0;; ++attempt) {
      Lease lease(*this, take());
      const bool reused = lease->reused;
      try {
        return fn(*lease);
      } catch (const PgFailure& failure) {
        if (failure.broken || PQstatus(lease->conn) != CONNECTION_OK) {
          lease.discard();
          if (idempotent && reused && attempt == 0) {
            continue;
          }
          throw to_error(failure, write);
        }
        throw to_error(failure, false);
      }
    }
  }

  // Runs one statement; throws PgFailure unless it succeeded.
  Result exec(Connection& connection, Sql id, const std::vector<Param>& params);
  // Runs SQL text (several statements, no parameters).
  Result exec_text(Connection& connection, const std::string& sql);
  static PgFailure failure_of(PGconn* conn, const PGresult* result);

  Error to_error(const PgFailure& failure, bool outcome_unknown) const;
  Error damaged(const std::string& what) const;

  void ensure_schema();
  void migrate(Connection& connection);

  std::optional<VersionRecord> one_version(Sql id, std::vector<Param> params);
  std::vector<VersionRecord> read_versions(const PGresult* result) const;
  VersionRecord read_version(const PGresult* result, int row) const;
  AuditRecord read_audit(const PGresult* result, int row) const;
  DataKeyRecord read_data_key(const PGresult* result, int row) const;
  HookCursor read_hook_cursor(const PGresult* result, int row) const;
  // An integer column; a damaged one is an Error naming `what()`.
  template <typename What> std::int64_t integer(const PGresult* result, int row, int column, What&& what) const {
    const char* text = PQgetvalue(result, row, column);
    const std::size_t length = static_cast<std::size_t>(PQgetlength(result, row, column));
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text, text + length, value);
    if (error != std::errc{} || end != text + length) {
      throw damaged(std::forward<What>(what)());
    }
    return value;
  }
  // Replaces the URL's user info (the password) in a message of libpq's.
  std::string redact(std::string message) const;

  // Calls the schema's append function; false when it refused.
  bool call_append(const std::string& records, const std::string& audit, bool durable);

  std::string m_url;
  std::string m_schema;
  std::string m_quoted_schema;
  std::size_t m_max_connections;
  std::array<std::string, static_cast<std::size_t>(Sql::count)> m_sql;
  mutable std::mutex m_server_mutex;
  std::string m_server; // host:port/dbname, for messages; never the password

  std::mutex m_pool_mutex;
  std::condition_variable m_pool_freed;
  std::vector<std::unique_ptr<Connection>> m_idle;
  std::size_t m_open = 0; // connections in use or idle

  std::atomic<std::uint64_t> m_transactions{0};
  std::atomic<std::uint64_t> m_writes{0};
  HeadHints m_hints;

  // LISTEN on a connection of its own, on a thread of its own
  // (listen_for_commits); the wake pipe's write end stops it.
  void listen(const CommitListener& listener);
  // Waits until the connection's socket (-1: none) has input or the wake
  // pipe is written to, at most `timeout_ms` (-1: no limit). Returns
  // whether the store is stopping.
  bool wait_for_input(int socket, int timeout_ms) const;
  std::array<int, 2> m_wake_pipe{-1, -1};
  // Set once the listener's first LISTEN ran (or its first connection
  // failed), so that listen_for_commits returns only when commits made
  // after it are heard.
  std::mutex m_listening_mutex;
  std::condition_variable m_listening_changed;
  bool m_listening = false;
  std::thread m_listener;
};

PostgresStore::PostgresStore(std::string url, std::string schema, bool long_lived)
    : m_url(std::move(url)), m_schema(std::move(schema)), m_quoted_schema("\"" + m_schema + "\""),
      m_max_connections(long_lived ? k_max_connections : 1) {
  for (std::size_t i = 0; i < m_sql.size(); ++i) {
    m_sql[i] = replace_all(k_sql[i], "@S", m_quoted_schema);
  }
  ensure_schema();
}

PostgresStore::~PostgresStore() {
  if (m_listener.joinable()) {
    const char stop = 's';
    while (::write(m_wake_pipe[1], &stop, 1) < 0 && errno == EINTR) {
    }
    m_listener.join();
  }
  for (const int fd : m_wake_pipe) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

bool PostgresStore::listen_for_commits(CommitListener listener) {
  if (m_listener.joinable()) {
    throw Error(ErrorCode::internal, "listen_for_commits: the store is listening already");
  }
  if (::pipe2(m_wake_pipe.data(), O_CLOEXEC) != 0) {
    throw Error(ErrorCode::unavailable, std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  m_listener = std::thread([this, listener = std::move(listener)] { listen(listener); });
  std::unique_lock lock(m_listening_mutex);
  m_listening_changed.wait_for(lock, std::chrono::seconds(10), [this] { return m_listening; });
  return true;
}

bool PostgresStore::wait_for_input(int socket, int timeout_ms) const {
  std::array<pollfd, 2> fds{pollfd{m_wake_pipe[0], POLLIN, 0}, pollfd{socket, POLLIN, 0}};
  while (::poll(fds.data(), socket >= 0 ? 2 : 1, timeout_ms) < 0 && errno == EINTR) {
  }
  return (fds[0].revents & POLLIN) != 0;
}

// Each committed append notifies "<schema>_versions" with "user/ns/version"
// per version, each erasure with "user/ns" or "user/" (the append and erase
// functions). User ids and namespaces hold no '/'. Reconnects (after a
// second) when the server goes away; what it sends meanwhile is lost, and
// followers find it when they next look at the store.
void PostgresStore::listen(const CommitListener& listener) {
  const std::string listen_sql = "LISTEN \"" + m_schema + "_versions\"";
  const auto started = [this] {
    {
      const std::lock_guard lock(m_listening_mutex);
      m_listening = true;
    }
    m_listening_changed.notify_all();
  };
  for (;;) {
    std::unique_ptr<Connection> connection;
    try {
      connection = connect();
      exec_text(*connection, listen_sql);
      started();
    } catch (...) {
      started(); // unreachable for now: listen_for_commits need not wait
      if (wait_for_input(-1, 1000)) {
        return;
      }
      continue;
    }
    while (PQconsumeInput(connection->conn) == 1) {
      while (PGnotify* notify = PQnotifies(connection->conn)) {
        const std::string_view payload(notify->extra);
        const auto slash = payload.find('/');
        if (slash != std::string_view::npos && slash > 0) {
          const std::string_view user = payload.substr(0, slash);
          const std::string_view rest = payload.substr(slash + 1);
          const std::string_view ns = rest.substr(0, rest.find('/'));
          listener(user, ns.empty() ? std::nullopt : std::optional<std::string_view>(ns));
        }
        PQfreemem(notify);
      }
      if (wait_for_input(PQsocket(connection->conn), -1)) {
        return;
      }
    }
  }
}

std::unique_ptr<Connection> PostgresStore::connect() {
  // Keywords before dbname are defaults the URL may override; the ones
  // after it are ours: the store's text is UTF-8.
  const std::array<const char*, 5> keywords{"connect_timeout", "application_name", "dbname", "client_encoding",
                                            nullptr};
  const std::array<const char*, 5> values{"5", "zsimem", m_url.c_str(), "UTF8", nullptr};
  PGconn* conn = PQconnectdbParams(keywords.data(), values.data(), 1);
  if (conn == nullptr) {
    throw Error(ErrorCode::unavailable, "cannot connect to the PostgreSQL server: out of memory");
  }
  auto connection = std::make_unique<Connection>(conn);
  // The server's notices ("schema exists, skipping", a terminated session)
  // are not for the user's terminal.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  {
    const char* host = PQhost(conn);
    const char* port = PQport(conn);
    const char* db = PQdb(conn);
    std::lock_guard lock(m_server_mutex);
    m_server = std::string(host != nullptr ? host : "") + ":" + (port != nullptr ? port : "") + "/" +
               (db != nullptr ? db : "");
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    std::lock_guard lock(m_server_mutex);
    throw Error(ErrorCode::unavailable, "cannot connect to the PostgreSQL server " + m_server +
                                            " (DATABASE_URL): " + redact(one_line(PQerrorMessage(conn))));
  }
  return connection;
}

std::unique_ptr<Connection> PostgresStore::take() {
  {
    std::unique_lock lock(m_pool_mutex);
    for (;;) {
      while (!m_idle.empty()) {
        auto connection = std::move(m_idle.back());
        m_idle.pop_back();
        // Reads what the server sent while the connection was idle: a server
        // that ended it (a restart, pg_terminate_backend) shows here.
        // Twice: the first read may return the server's last message, the
        // second then finds the end of the stream.
        if (PQconsumeInput(connection->conn) == 1 && PQconsumeInput(connection->conn) == 1 &&
            PQstatus(connection->conn) == CONNECTION_OK) {
          connection->reused = true;
          return connection;
        }
        --m_open;
      }
      if (m_open < m_max_connections) {
        ++m_open;
        break;
      }
      m_pool_freed.wait(lock);
    }
  }
  try {
    return connect();
  } catch (...) {
    std::lock_guard lock(m_pool_mutex);
    --m_open;
    m_pool_freed.notify_one();
    throw;
  }
}

void PostgresStore::give_back(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(m_pool_mutex);
  if (connection && PQstatus(connection->conn) == CONNECTION_OK &&
      PQtransactionStatus(connection->conn) == PQTRANS_IDLE) {
    m_idle.push_back(std::move(connection));
  } else {
    --m_open; // dropped: destroyed as it goes out of scope, under the lock
    connection.reset();
  }
  m_pool_freed.notify_one();
}

PgFailure PostgresStore::failure_of(PGconn* conn, const PGresult* result) {
  PgFailure failure;
  if (result != nullptr) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    failure.sqlstate = state != nullptr ? state : "";
    const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    failure.message = one_line(primary != nullptr ? primary : PQresultErrorMessage(result));
  }
  if (failure.message.empty()) {
    failure.message = one_line(PQerrorMessage(conn));
  }
  // Connection exceptions (class 08), and the server ending the session
  // (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now).
  failure.broken = PQstatus(conn) != CONNECTION_OK || failure.sqlstate.starts_with("08") ||
                   failure.sqlstate == "57P01" || failure.sqlstate == "57P02" || failure.sqlstate == "57P03";
  return failure;
}

Result PostgresStore::exec(Connection& connection, Sql id, const std::vector<Param>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) {
    values.push_back(param ? param->c_str() : nullptr);
  }
  const auto index = static_cast<std::size_t>(id);
  const int count = static_cast<int>(values.size());
  PGresult* raw = nullptr;
  if (m_max_connections > 1) {
    // Long-lived: each statement is parsed and planned once per connection.
    const std::string name = "zsimem_" + std::to_string(index);
    if (!connection.prepared[index]) {
      Result prepared(PQprepare(connection.conn, name.c_str(), m_sql[index].c_str(), 0, nullptr), &PQclear);
      if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
        throw failure_of(connection.conn, prepared.get());
      }
      connection.prepared[index] = true;
    }
    raw = PQexecPrepared(connection.conn, name.c_str(), count, values.data(), nullptr, nullptr, 0);
  } else {
    // One-shot: an unnamed statement parsed with its parameters, in the same
    // round trip, costs less than preparing it for one use.
    raw = PQexecParams(connection.conn, m_sql[index].c_str(), count, nullptr, values.data(), nullptr, nullptr, 0);
  }
  Result result(raw, &PQclear);
  const auto status = PQresultStatus(result.get());
  if (result == nullptr || (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)) {
    throw failure_of(connection.conn, result.get());
  }
  return result;
}

Result PostgresStore::exec_text(Connection& connection, const std::string& sql) {
  Result result(PQexec(connection.conn, sql.c_str()), &PQclear);
  const auto status = PQresultStatus(result.get());
  if (result == nullptr || (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)) {
    throw failure_of(connection.conn, result.get());
  }
  return result;
}

std::string PostgresStore::redact(std::string message) const {
  // postgresql://USER:PASSWORD@HOST…: the user info ends at the last '@'
  // before the path.
  const auto scheme = m_url.find("://");
  if (scheme == std::string::npos) {
    return message;
  }
  const auto path = m_url.find('/', scheme + 3);
  const auto at = m_url.rfind('@', path == std::string::npos ? std::string::npos : path);
  if (at == std::string::npos || at <= scheme + 3) {
    return message;
  }
  const std::string user_info = m_url.substr(scheme + 3, at - scheme - 3);
  const auto colon = user_info.find(':');
  if (colon != std::string::npos && colon + 1 < user_info.size()) {
    message = replace_all(std::move(message), user_info.substr(colon + 1), "***");
  }
  return message;
}

Error PostgresStore::to_error(const PgFailure& failure, bool outcome_unknown) const {
  std::string server;
  {
    std::lock_guard lock(m_server_mutex);
    server = m_server;
  }
  std::string message = "PostgreSQL server " + server + ", schema " + m_schema + ": " + redact(failure.message);
  if (outcome_unknown) {
    message += " (the connection was lost during a write: whether it was committed is unknown)";
  }
  // Lock and statement timeouts: the server was there but did not answer in time.
  if (failure.sqlstate == "55P03" || failure.sqlstate == "57014") {
    return Error(ErrorCode::timeout, message);
  }
  // Text PostgreSQL cannot keep: a NUL character, or bytes that are not UTF-8.
  if (failure.sqlstate == "22P05" || failure.sqlstate == "22021") {
    return Error(ErrorCode::invalid, message);
  }
  return Error(ErrorCode::unavailable, message);
}

Error PostgresStore::damaged(const std::string& what) const {
  std::lock_guard lock(m_server_mutex);
  return Error(ErrorCode::unavailable, "PostgreSQL server " + m_server + ", schema " + m_schema + ": damaged " + what +
                                           " (restore it from a backup)");
}

void PostgresStore::ensure_schema() {
  with_connection(false, false, [&](Connection& connection) {
    // The common case, every open of an existing store: one query.
    const std::string probe = "SELECT version FROM " + m_quoted_schema + ".schema_version";
    Result result(PQexec(connection.conn, probe.c_str()), &PQclear);
    if (PQresultStatus(result.get()) == PGRES_TUPLES_OK && PQntuples(result.get()) == 1) {
      const int found = std::atoi(PQgetvalue(result.get(), 0, 0));
      if (found == k_schema_version) {
        return 0;
      }
      if (found > k_schema_version) {
        std::lock_guard lock(m_server_mutex);
        throw Error(ErrorCode::unavailable, "PostgreSQL server " + m_server + ": schema " + m_schema +
                                                " has schema version " + std::to_string(found) +
                                                ", newer than this zsimem supports (" +
                                                std::to_string(k_schema_version) + "); upgrade zsimem");
      }
    } else {
      const PgFailure failure = failure_of(connection.conn, result.get());
      // 3F000: no such schema; 42P01: no such table. Anything else is a real failure.
      if (failure.broken || (failure.sqlstate != "3F000" && failure.sqlstate != "42P01")) {
        throw failure;
      }
    }
    migrate(connection);
    return 0;
  });
}

void PostgresStore::migrate(Connection& connection) {
  // One transaction, serialized across processes by an advisory lock: two
  // processes opening a fresh schema at once would otherwise both create it.
  try {
    exec_text(connection, "BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(schema_lock_key(m_schema)) +
                              "); CREATE SCHEMA IF NOT EXISTS " + m_quoted_schema + ";");
    Result has_table(PQexec(connection.conn, ("SELECT to_regclass('" + m_quoted_schema +
                                              ".schema_version') IS NOT NULL, (SELECT count(*) FROM pg_class c JOIN "
                                              "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '" +
                                              m_schema + "')")
                                                 .c_str()),
                     &PQclear);
    if (PQresultStatus(has_table.get()) != PGRES_TUPLES_OK) {
      throw failure_of(connection.conn, has_table.get());
    }
    int current = 0;
    if (std::string_view(PQgetvalue(has_table.get(), 0, 0)) == "t") {
      Result version =
          exec_text(connection, "SELECT coalesce(max(version), 0) FROM " + m_quoted_schema + ".schema_version");
      current = std::atoi(PQgetvalue(version.get(), 0, 0));
    } else if (std::string_view(PQgetvalue(has_table.get(), 0, 1)) != "0") {
      std::lock_guard lock(m_server_mutex);
      throw Error(ErrorCode::unavailable,
                  "PostgreSQL server " + m_server + ": schema " + m_schema +
                      " holds tables but no zsimem schema version: it is not a zsimem store; choose another schema"
                      " (ZSIMEM_PG_SCHEMA)");
    } else {
      exec_text(connection, "CREATE TABLE " + m_quoted_schema + ".schema_version (version integer NOT NULL)");
    }
    if (current > k_schema_version) {
      std::lock_guard lock(m_server_mutex);
      throw Error(ErrorCode::unavailable, "PostgreSQL server " + m_server + ": schema " + m_schema +
                                              " has schema version " + std::to_string(current) +
                                              ", newer than this zsimem supports (" + std::to_string(k_schema_version) +
                                              "); upgrade zsimem");
    }
    for (const auto& migration : k_migrations) {
      if (migration.to_version > current) {
        exec_text(connection,
                  replace_all(replace_all(migration.sql, "@S", m_quoted_schema), "@N", "'" + m_schema + "'"));
      }
    }
    exec_text(connection, "DELETE FROM " + m_quoted_schema + ".schema_version; INSERT INTO " + m_quoted_schema +
                              ".schema_version (version) VALUES (" + std::to_string(k_schema_version) + "); COMMIT");
  } catch (...) {
    if (PQstatus(connection.conn) == CONNECTION_OK && PQtransactionStatus(connection.conn) != PQTRANS_IDLE) {
      Result rollback(PQexec(connection.conn, "ROLLBACK"), &PQclear);
    }
    throw;
  }
}

VersionRecord PostgresStore::read_version(const PGresult* result, int row) const {
  const auto text = [&](int column) {
    return std::string(PQgetvalue(result, row, column), static_cast<std::size_t>(PQgetlength(result, row, column)));
  };
  VersionRecord record;
  record.user_id = text(0);
  record.ns = text(1);
  record.version = static_cast<std::uint64_t>(
      integer(result, row, 2, [&] { return "version of " + record.user_id + "/" + record.ns; }));
  const auto name = [&] { return record.user_id + "/" + record.ns + " version " + std::to_string(record.version); };
  const std::int64_t updated_at = integer(result, row, 3, [&] { return "time in " + name(); });
  if (!is_plausible_time(updated_at)) {
    throw damaged("time in " + name());
  }
  record.updated_at = from_micros(updated_at);
  record.data = text(4);
  record.delta = text(5);
  record.actor = text(6);
  record.request_id = text(7);
  const std::string tags = text(8);
  if (tags != "[]") {
    const Json parsed = Json::parse(tags, nullptr, false);
    const auto is_string = [](const Json& tag) { return tag.is_string(); };
    if (!parsed.is_array() || !std::all_of(parsed.begin(), parsed.end(), is_string)) {
      throw damaged("tags in " + name());
    }
    for (const auto& tag : parsed) {
      record.tags.push_back(tag.get<std::string>());
    }
  }
  record.derived_from =
      static_cast<std::uint64_t>(integer(result, row, 9, [&] { return "derived_from in " + name(); }));
  if (PQgetisnull(result, row, 10) == 0) {
    record.rollback_of =
        static_cast<std::uint64_t>(integer(result, row, 10, [&] { return "rollback_of in " + name(); }));
  }
  record.idempotency_key = text(11);
  record.prev_hash = text(12);
  record.hash = text(13);
  record.salt = text(14);
  record.key_id = text(15);
  if (PQgetisnull(result, row, 16) == 0) {
    record.pruned_through =
        static_cast<std::uint64_t>(integer(result, row, 16, [&] { return "pruned_through in " + name(); }));
  }
  return record;
}

std::vector<VersionRecord> PostgresStore::read_versions(const PGresult* result) const {
  std::vector<VersionRecord> records;
  const int rows = PQntuples(result);
  records.reserve(static_cast<std::size_t>(rows));
  for (int row = 0; row < rows; ++row) {
    records.push_back(read_version(result, row));
  }
  return records;
}

AuditRecord PostgresStore::read_audit(const PGresult* result, int row) const {
  const auto text = [&](int column) {
    return std::string(PQgetvalue(result, row, column), static_cast<std::size_t>(PQgetlength(result, row, column)));
  };
  AuditRecord record;
  record.seq = static_cast<std::uint64_t>(integer(result, row, 0, [] { return std::string("audit seq"); }));
  const std::int64_t time = integer(result, row, 1, [] { return std::string("audit time"); });
  if (!is_plausible_time(time)) {
    throw damaged("time in audit record " + std::to_string(record.seq));
  }
  record.time = from_micros(time);
  record.request_id = text(2);
  record.actor = text(3);
  record.operation = text(4);
  record.user_id = text(5);
  record.ns = text(6);
  record.version = text(7);
  record.outcome = text(8);
  record.detail = text(9);
  record.prev_hash = text(10);
  record.hash = text(11);
  return record;
}

DataKeyRecord PostgresStore::read_data_key(const PGresult* result, int row) const {
  DataKeyRecord key;
  key.user_id = std::string(PQgetvalue(result, row, 0), static_cast<std::size_t>(PQgetlength(result, row, 0)));
  key.generation =
      static_cast<std::uint64_t>(integer(result, row, 1, [] { return std::string("data key generation"); }));
  key.master_key_id = std::string(PQgetvalue(result, row, 2), static_cast<std::size_t>(PQgetlength(result, row, 2)));
  key.wrapped = std::string(PQgetvalue(result, row, 3), static_cast<std::size_t>(PQgetlength(result, row, 3)));
  const std::int64_t created_at = integer(result, row, 4, [] { return std::string("data key time"); });
  if (!is_plausible_time(created_at)) {
    throw damaged("time of data key " + std::to_string(key.generation) + " of " + key.user_id);
  }
  key.created_at = from_micros(created_at);
  return key;
}

HookCursor PostgresStore::read_hook_cursor(const PGresult* result, int row) const {
  const auto text = [&](int column) {
    return std::string(PQgetvalue(result, row, column), static_cast<std::size_t>(PQgetlength(result, row, column)));
  };
  HookCursor cursor;
  cursor.hook = text(0);
  cursor.context = ContextKey{text(1), text(2)};
  const auto what = [&] {
    return "revision of the cursor of hook " + cursor.hook + " for " + cursor.context.user_id + "/" + cursor.context.ns;
  };
  const std::int64_t revision = integer(result, row, 3, what);
  if (revision < 1) {
    throw damaged(what());
  }
  cursor.revision = static_cast<std::uint64_t>(revision);
  cursor.state = text(4);
  return cursor;
}

std::optional<VersionRecord> PostgresStore::one_version(Sql id, std::vector<Param> params) {
  return with_connection(true, false, [&](Connection& connection) -> std::optional<VersionRecord> {
    const Result result = exec(connection, id, params);
    if (PQntuples(result.get()) == 0) {
      return std::nullopt;
    }
    return read_version(result.get(), 0);
  });
}

std::optional<VersionRecord> PostgresStore::head(const ContextKey& key) {
  return one_version(Sql::head, {key.user_id, key.ns});
}

std::optional<VersionRecord> PostgresStore::version(const ContextKey& key, std::uint64_t version) {
  return one_version(Sql::version, {key.user_id, key.ns, std::to_string(clamp_to_int64(version))});
}

std::optional<VersionRecord> PostgresStore::version_at(const ContextKey& key, Timestamp at) {
  return one_version(Sql::version_at, {key.user_id, key.ns, std::to_string(to_micros(at))});
}

std::vector<VersionRecord> PostgresStore::history(const ContextKey& key, const HistoryQuery& query) {
  std::vector<Param> params{key.user_id, key.ns};
  if (query.oldest_first) {
    params.emplace_back(std::to_string(query.after_version ? clamp_to_int64(*query.after_version) : k_int_min));
  } else {
    params.emplace_back(std::to_string(query.before_version ? clamp_to_int64(*query.before_version) : k_int_max));
  }
  params.emplace_back(std::to_string(query.since ? to_micros(*query.since) : k_int_min));
  params.emplace_back(std::to_string(query.until ? to_micros(*query.until) : k_int_max));
  params.emplace_back(std::to_string(clamp_to_int64(query.limit)));
  return with_connection(true, false, [&](Connection& connection) {
    const Result result = exec(connection, query.oldest_first ? Sql::history_oldest : Sql::history_newest, params);
    return read_versions(result.get());
  });
}

std::optional<VersionRecord> PostgresStore::find_idempotency_key(const ContextKey& key,
                                                                 std::string_view idempotency_key) {
  if (idempotency_key.empty()) {
    return std::nullopt;
  }
  return one_version(Sql::find_idempotency_key, {key.user_id, key.ns, std::string(idempotency_key)});
}

// Throws Error{invalid} for a gap record no store could keep: it stands
// for versions version..pruned_through, version 1 or more.
void check_gap(const VersionRecord& record) {
  if (record.pruned_through && (record.version == 0 || *record.pruned_through < record.version)) {
    throw Error(ErrorCode::invalid,
                "gap record " + std::to_string(record.version) + ".." + std::to_string(*record.pruned_through) +
                    " of " + record.user_id + "/" + record.ns + " is not a range of versions",
                "pruned_through");
  }
}

std::string encode_json(const Json& value, const char* field) {
  try {
    return value.dump();
  } catch (const Json::type_error&) {
    throw Error(ErrorCode::invalid, std::string("a ") + field + " is not valid UTF-8", field);
  }
}

std::string records_json(std::span<const VersionRecord> records) {
  Json rows = Json::array();
  for (const auto& record : records) {
    Json row = Json::object();
    row["user_id"] = record.user_id;
    row["ns"] = record.ns;
    row["version"] = clamp_to_int64(record.version);
    row["updated_at"] = to_micros(record.updated_at);
    row["data"] = record.data;
    row["delta"] = record.delta;
    row["actor"] = record.actor;
    row["request_id"] = record.request_id;
    row["tags"] = record.tags.empty() ? std::string("[]") : encode_json(Json(record.tags), "tags");
    row["derived_from"] = clamp_to_int64(record.derived_from);
    row["rollback_of"] = record.rollback_of ? Json(clamp_to_int64(*record.rollback_of)) : Json(nullptr);
    row["idempotency_key"] = record.idempotency_key.empty() ? Json(nullptr) : Json(record.idempotency_key);
    row["prev_hash"] = record.prev_hash;
    row["hash"] = record.hash;
    row["salt"] = record.salt;
    row["key_id"] = record.key_id;
    row["pruned_through"] = record.pruned_through ? Json(clamp_to_int64(*record.pruned_through)) : Json(nullptr);
    rows.push_back(std::move(row));
  }
  return encode_json(rows, "version");
}

std::string audit_records_json(std::span<const AuditRecord> records) {
  Json rows = Json::array();
  for (const auto& record : records) {
    rows.push_back(Json{{"time", to_micros(record.time)},
                        {"request_id", record.request_id},
                        {"actor", record.actor},
                        {"operation", record.operation},
                        {"user_id", record.user_id},
                        {"ns", record.ns},
                        {"version", record.version},
                        {"outcome", record.outcome},
                        {"detail", record.detail}});
  }
  return encode_json(rows, "audit record");
}

bool PostgresStore::call_append(const std::string& records, const std::string& audit, bool durable) {
  const std::vector<Param> params{records, audit, std::string(durable ? "true" : "false")};
  const bool appended = with_connection(false, true, [&](Connection& connection) {
    try {
      exec(connection, Sql::append, params);
      return true;
    } catch (const PgFailure& failure) {
      // Refused by the function, a version that exists (the unique key), or
      // a deadlock between two batches: someone else got there first.
      if (!failure.broken && (failure.sqlstate == k_refused_state || failure.sqlstate == "23505" ||
                              failure.sqlstate == "40P01" || failure.sqlstate == "40001")) {
        return false;
      }
      throw;
    }
  });
  ++m_transactions;
  ++m_writes;
  return appended;
}

bool PostgresStore::append(std::span<const VersionRecord> records, std::span<const AuditRecord> audit) {
  if (records.empty() && audit.empty()) {
    return true;
  }
  for (const auto& record : records) {
    check_gap(record);
  }
  return m_hints.track(records, [&] { return call_append(records_json(records), audit_records_json(audit), true); });
}

void PostgresStore::append_audit(std::span<const AuditRecord> records, bool durable) {
  if (records.empty()) {
    return;
  }
  call_append("[]", audit_records_json(records), durable);
}

std::size_t PostgresStore::erase(std::string_view user_id, std::optional<std::string_view> ns) {
  const std::vector<Param> params{std::string(user_id), ns ? Param(std::string(*ns)) : Param()};
  // No VACUUM afterwards: it cannot scrub the WAL or backups either, and
  // autovacuum reclaims the dead rows (docs/postgres.md, "Erasure").
  m_hints.forget(user_id, ns);
  return with_connection(false, true, [&](Connection& connection) {
    const Result result = exec(connection, Sql::erase, params);
    return static_cast<std::size_t>(integer(result.get(), 0, 0, [] { return std::string("erase count"); }));
  });
}

std::size_t PostgresStore::prune(const VersionRecord& gap) {
  if (!gap.is_gap()) {
    throw Error(ErrorCode::invalid, "prune: version " + std::to_string(gap.version) + " of " + gap.user_id + "/" +
                                        gap.ns + " is not a gap record");
  }
  check_gap(gap);
  // The head stays, but a hint of this process may be older than the
  // versions that go: forgotten, the next writer reads the head.
  if (const auto hint = m_hints.find(gap.key()); hint && hint->version <= *gap.pruned_through) {
    m_hints.forget(gap.user_id, gap.ns);
  }
  const std::vector<Param> params{records_json({&gap, 1})};
  return with_connection(false, true, [&](Connection& connection) {
    try {
      const Result result = exec(connection, Sql::prune, params);
      ++m_transactions;
      ++m_writes;
      return static_cast<std::size_t>(integer(result.get(), 0, 0, [] { return std::string("prune count"); }));
    } catch (const PgFailure& failure) {
      if (!failure.broken && failure.sqlstate == k_holds_head_state) {
        throw Error(ErrorCode::invalid, failure.message);
      }
      throw;
    }
  });
}

std::size_t PostgresStore::prune_audit(std::uint64_t through_seq) {
  if (through_seq == 0) {
    return 0; // seq counts from 1
  }
  // audit_head keeps the newest record's seq and hash, so that the chain
  // goes on from it even when every record goes.
  const std::vector<Param> params{std::to_string(clamp_to_int64(through_seq))};
  return with_connection(false, true, [&](Connection& connection) {
    const Result result = exec(connection, Sql::prune_audit, params);
    ++m_transactions;
    ++m_writes;
    const char* count = PQcmdTuples(result.get());
    return static_cast<std::size_t>(std::strtoull(count, nullptr, 10));
  });
}

std::vector<ContextKey> PostgresStore::contexts(std::optional<std::string_view> user_id) {
  std::vector<Param> params;
  if (user_id) {
    params.emplace_back(std::string(*user_id));
  }
  return with_connection(true, false, [&](Connection& connection) {
    const Result result = exec(connection, user_id ? Sql::contexts_of_user : Sql::contexts_all, params);
    std::vector<ContextKey> keys;
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      keys.push_back({PQgetvalue(result.get(), row, 0), PQgetvalue(result.get(), row, 1)});
    }
    return keys;
  });
}

std::vector<DataKeyRecord> PostgresStore::data_keys(std::optional<std::string_view> user_id) {
  std::vector<Param> params;
  if (user_id) {
    params.emplace_back(std::string(*user_id));
  }
  return with_connection(true, false, [&](Connection& connection) {
    const Result result = exec(connection, user_id ? Sql::data_keys_of_user : Sql::data_keys_all, params);
    std::vector<DataKeyRecord> keys;
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      keys.push_back(read_data_key(result.get(), row));
    }
    return keys;
  });
}

bool PostgresStore::add_data_key(const DataKeyRecord& key) {
  check_data_key(key);
  const std::vector<Param> params{key.user_id, std::to_string(key.generation), key.master_key_id, key.wrapped,
                                  std::to_string(to_micros(key.created_at))};
  return with_connection(false, true, [&](Connection& connection) {
    const Result result = exec(connection, Sql::insert_data_key, params);
    // ON CONFLICT DO NOTHING: no row when the user has that generation already.
    return std::string_view(PQcmdTuples(result.get())) == "1";
  });
}

bool PostgresStore::rewrap_data_key(const DataKeyRecord& key, std::string_view expected_wrapped) {
  if (!is_valid_generation(key.generation)) {
    return false; // no such key can be stored
  }
  const std::vector<Param> params{key.user_id, std::to_string(key.generation), key.master_key_id, key.wrapped,
                                  std::string(expected_wrapped)};
  return with_connection(false, true, [&](Connection& connection) {
    const Result result = exec(connection, Sql::rewrap_data_key, params);
    return std::string_view(PQcmdTuples(result.get())) == "1";
  });
}

std::optional<HookCursor> PostgresStore::hook_cursor(std::string_view hook, const ContextKey& context) {
  const std::vector<Param> params{std::string(hook), context.user_id, context.ns};
  return with_connection(true, false, [&](Connection& connection) -> std::optional<HookCursor> {
    const Result result = exec(connection, Sql::hook_cursor, params);
    if (PQntuples(result.get()) == 0) {
      return std::nullopt;
    }
    return read_hook_cursor(result.get(), 0);
  });
}

bool PostgresStore::put_hook_cursor(const HookCursor& cursor) {
  check_hook_cursor(cursor);
  const std::vector<Param> params{cursor.hook, cursor.context.user_id, cursor.context.ns,
                                  std::to_string(cursor.revision), cursor.state};
  return with_connection(false, true, [&](Connection& connection) {
    const Result result =
        exec(connection, cursor.revision == 1 ? Sql::insert_hook_cursor : Sql::update_hook_cursor, params);
    // No row: another writer stored that revision first, or none is stored
    // to replace.
    return std::string_view(PQcmdTuples(result.get())) == "1";
  });
}

std::vector<HookCursor> PostgresStore::hook_cursors(std::optional<std::string_view> hook) {
  std::vector<Param> params;
  if (hook) {
    params.emplace_back(std::string(*hook));
  }
  return with_connection(true, false, [&](Connection& connection) {
    const Result result = exec(connection, hook ? Sql::hook_cursors_of_hook : Sql::hook_cursors_all, params);
    std::vector<HookCursor> cursors;
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      cursors.push_back(read_hook_cursor(result.get(), row));
    }
    return cursors;
  });
}

std::size_t PostgresStore::remove_hook_cursors(std::string_view hook) {
  const std::vector<Param> params{std::string(hook)};
  return with_connection(false, true, [&](Connection& connection) {
    const Result result = exec(connection, Sql::remove_hook_cursors, params);
    return static_cast<std::size_t>(std::strtoull(PQcmdTuples(result.get()), nullptr, 10));
  });
}

std::vector<AuditRecord> PostgresStore::audit_log(const AuditQuery& query) {
  std::vector<Param> params{
      std::to_string(query.before_seq ? clamp_to_int64(*query.before_seq) : k_int_max),
      std::to_string(query.since ? to_micros(*query.since) : k_int_min),
      std::to_string(query.until ? to_micros(*query.until) : k_int_max),
      query.ns ? Param(*query.ns) : Param(),
      std::to_string(clamp_to_int64(query.limit)),
  };
  if (query.user_id) {
    params.emplace_back(*query.user_id);
  }
  return with_connection(true, false, [&](Connection& connection) {
    const Result result = exec(connection, query.user_id ? Sql::audit_of_user : Sql::audit_all, params);
    std::vector<AuditRecord> records;
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      records.push_back(read_audit(result.get(), row));
    }
    return records;
  });
}

} // namespace

std::unique_ptr<MemoryStore> make_postgres_store(const StoreConfig& config) {
  const char* url = std::getenv("DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    throw Error(ErrorCode::invalid,
                "DATABASE_URL is not set: the postgres backend's connection string "
                "(postgresql://USER:PASSWORD@HOST:PORT/DB)",
                "DATABASE_URL");
  }
  const std::string schema = config.store_name.empty() ? std::string(k_default_schema) : config.store_name;
  if (!is_valid_schema_name(schema)) {
    throw Error(ErrorCode::invalid,
                "invalid PostgreSQL schema name '" + schema + "': use 1 to " + std::to_string(k_max_schema_length) +
                    " lowercase letters, digits and underscores, not starting with a digit",
                "ZSIMEM_PG_SCHEMA");
  }
  return std::make_unique<PostgresStore>(url, schema, config.long_lived);
}

} // namespace zsimem::store
