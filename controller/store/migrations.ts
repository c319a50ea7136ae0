/**
 * Versioned schema migrations, applied in order at start-up inside one
 * transaction each. Never edit a released migration; append a new one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "hosts, domains, sessions, tokens, event history",
    sql: `
      CREATE TABLE hosts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        token_hash TEXT UNIQUE,
        enrolled_at INTEGER NOT NULL,
        revoked_at INTEGER,
        status TEXT NOT NULL DEFAULT 'enrolled' CHECK (status IN ('enrolled', 'up', 'missing', 'revoked')),
        last_seen_at INTEGER,
        hostname TEXT,
        agent_version TEXT,
        libvirt_version TEXT,
        libvirt_uri TEXT
      );
      CREATE TABLE domains (
        host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        uuid TEXT NOT NULL,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        state_reason TEXT NOT NULL,
        autostart INTEGER NOT NULL,
        persistent INTEGER NOT NULL,
        vcpus INTEGER NOT NULL,
        memory_kib INTEGER NOT NULL,
        max_memory_kib INTEGER NOT NULL,
        disks TEXT NOT NULL DEFAULT '[]',
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (host_id, uuid)
      );
      CREATE TABLE agent_sessions (
        id TEXT PRIMARY KEY,
        host_id INTEGER NOT NULL REFERENCES hosts(id),
        remote_addr TEXT,
        connected_at INTEGER NOT NULL,
        disconnected_at INTEGER,
        close_reason TEXT
      );
      CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      );
      CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        host_id INTEGER NOT NULL REFERENCES hosts(id),
        time INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        domain_name TEXT,
        domain_uuid TEXT,
        event TEXT,
        detail TEXT,
        data TEXT
      );
      CREATE INDEX events_host_time ON events (host_id, time);
      CREATE INDEX events_time ON events (time);
      CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'event history is append-only'); END;
      CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'event history is append-only'); END;
    `,
  },
  {
    version: 2,
    name: "disks in their own table, so placement checks can join on storage",
    sql: `
      CREATE TABLE disks (
        host_id INTEGER NOT NULL,
        domain_uuid TEXT NOT NULL,
        target TEXT NOT NULL,
        bus TEXT,
        device TEXT NOT NULL,
        type TEXT NOT NULL,
        source TEXT,
        driver_type TEXT,
        readonly INTEGER NOT NULL,
        shareable INTEGER NOT NULL,
        PRIMARY KEY (host_id, domain_uuid, target),
        FOREIGN KEY (host_id, domain_uuid) REFERENCES domains(host_id, uuid) ON DELETE CASCADE
      );
      CREATE INDEX disks_source ON disks (source);
      INSERT INTO disks (host_id, domain_uuid, target, bus, device, type, source, driver_type, readonly, shareable)
        SELECT d.host_id, d.uuid,
               json_extract(j.value, '$.target'), json_extract(j.value, '$.bus'),
               coalesce(json_extract(j.value, '$.device'), 'disk'), coalesce(json_extract(j.value, '$.type'), 'file'),
               json_extract(j.value, '$.source'), json_extract(j.value, '$.driverType'),
               coalesce(json_extract(j.value, '$.readonly'), 0), coalesce(json_extract(j.value, '$.shareable'), 0)
        FROM domains d, json_each(d.disks) j;
      ALTER TABLE domains DROP COLUMN disks;
    `,
  },
  {
    version: 3,
    name: "host health: findings, mounts, systemd state, probe runs, expected stops",
    sql: `
      CREATE TABLE findings (
        id INTEGER PRIMARY KEY,
        host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        code TEXT NOT NULL,
        subject TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
        message TEXT NOT NULL,
        remedy TEXT NOT NULL,
        probe TEXT NOT NULL,
        -- 'agent': from the host's probes, resolved when a report no longer has it;
        -- 'controller': derived here (unexpected stops), resolved by what it is about.
        source TEXT NOT NULL CHECK (source IN ('agent', 'controller')),
        first_seen_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        resolved_at INTEGER
      );
      -- One open finding per host, code and subject; resolved ones stay as history.
      CREATE UNIQUE INDEX findings_open ON findings (host_id, code, subject) WHERE resolved_at IS NULL;
      CREATE INDEX findings_host ON findings (host_id, resolved_at);
      CREATE TABLE mounts (
        host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        mount_point TEXT NOT NULL,
        fstype TEXT NOT NULL,
        source TEXT NOT NULL,
        state TEXT NOT NULL,
        in_fstab INTEGER NOT NULL,
        network INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (host_id, mount_point)
      );
      CREATE TABLE host_health (
        host_id INTEGER PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
        reported_at INTEGER NOT NULL,
        systemd_state TEXT,
        failed_units TEXT NOT NULL DEFAULT '[]',
        previous_boot_emergency INTEGER
      );
      CREATE TABLE probe_runs (
        host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        probe TEXT NOT NULL,
        status TEXT NOT NULL,
        duration_ms REAL NOT NULL,
        detail TEXT,
        reported_at INTEGER NOT NULL,
        PRIMARY KEY (host_id, probe)
      );
      CREATE TABLE expected_stops (
        id INTEGER PRIMARY KEY,
        host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        vm TEXT NOT NULL,
        until INTEGER NOT NULL,
        reason TEXT NOT NULL,
        recorded_by TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX expected_stops_vm ON expected_stops (host_id, vm, until);
    `,
  },
  {
    version: 4,
    name: "maintenance runs, their VMs, evidence and snapshots",
    sql: `
      CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        spec TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'stopping', 'finished')),
        halt_reason TEXT,
        created_at INTEGER NOT NULL,
        finished_at INTEGER
      );
      CREATE TABLE run_vms (
        run_id TEXT NOT NULL REFERENCES runs(id),
        position INTEGER NOT NULL,
        host_id INTEGER NOT NULL REFERENCES hosts(id),
        vm TEXT NOT NULL,
        canary INTEGER NOT NULL,
        -- The phase being executed; 'attempt' counts how often it was entered, so a
        -- controller that restarts mid-phase knows it is re-examining, not starting.
        phase TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        outcome TEXT CHECK (outcome IN ('succeeded', 'rolled-back', 'skipped', 'needs-attention', 'aborted')),
        reason TEXT,
        snapshot TEXT,
        started_at INTEGER,
        finished_at INTEGER,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (run_id, position)
      );
      CREATE INDEX run_vms_open ON run_vms (host_id, vm) WHERE outcome IS NULL;
      CREATE INDEX run_vms_vm ON run_vms (host_id, vm);
      -- Evidence is a record of what happened: append-only like the event history.
      CREATE TABLE run_evidence (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id),
        time INTEGER NOT NULL,
        vm TEXT,
        host TEXT,
        step TEXT NOT NULL,
        check_name TEXT NOT NULL,
        command TEXT NOT NULL,
        result TEXT NOT NULL CHECK (result IN ('PASS', 'FAIL', 'INFO', 'WARN')),
        output TEXT NOT NULL,
        duration_ms REAL NOT NULL
      );
      CREATE INDEX run_evidence_run ON run_evidence (run_id, seq);
      CREATE TRIGGER run_evidence_no_update BEFORE UPDATE ON run_evidence BEGIN SELECT RAISE(ABORT, 'run evidence is append-only'); END;
      CREATE TRIGGER run_evidence_no_delete BEFORE DELETE ON run_evidence BEGIN SELECT RAISE(ABORT, 'run evidence is append-only'); END;
      CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id),
        host_id INTEGER NOT NULL REFERENCES hosts(id),
        vm TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        deleted_at INTEGER,
        note TEXT,
        UNIQUE (host_id, vm, name)
      );
      CREATE INDEX snapshots_expiring ON snapshots (expires_at) WHERE deleted_at IS NULL;
    `,
  },
  {
    version: 5,
    name: "maintenance windows, machine memberships, wave plans and their slots",
    sql: `
      -- One maintenance preference per group (MaintenancePreference as JSON).
      CREATE TABLE plan_preferences (
        grp TEXT PRIMARY KEY,
        preference TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
      -- What the planner knows about a machine that the inventory does not say. id is
      -- HOST/VM for a VM (its host when it was registered) and the host's name for a host.
      CREATE TABLE plan_machines (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('vm', 'host')),
        name TEXT NOT NULL,
        host TEXT NOT NULL,
        grp TEXT NOT NULL,
        roles TEXT NOT NULL DEFAULT '[]',
        tested INTEGER NOT NULL,
        ha_groups TEXT NOT NULL DEFAULT '[]',
        estimated_minutes REAL NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX plan_machines_name ON plan_machines (kind, name);
      CREATE INDEX plan_machines_group ON plan_machines (grp);
      CREATE TABLE plans (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        spec TEXT NOT NULL,
        run_template TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('scheduled', 'running', 'paused', 'cancelled', 'finished')),
        paused_reason TEXT,
        created_at INTEGER NOT NULL,
        week_start INTEGER NOT NULL,
        finished_at INTEGER,
        note TEXT
      );
      CREATE INDEX plans_created ON plans (created_at);
      CREATE TABLE plan_waves (
        plan_id TEXT NOT NULL REFERENCES plans(id),
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        start_at INTEGER NOT NULL,
        end_at INTEGER NOT NULL,
        failure_budget TEXT,
        state TEXT NOT NULL CHECK (state IN ('waiting', 'running', 'done', 'blocked')),
        -- Failed slots an operator's resume accepted: the budget counts failures beyond these.
        failures_accepted INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (plan_id, position)
      );
      CREATE TABLE plan_slots (
        id INTEGER PRIMARY KEY,
        plan_id TEXT NOT NULL REFERENCES plans(id),
        wave INTEGER NOT NULL,
        machine_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('vm', 'host')),
        name TEXT NOT NULL,
        host TEXT NOT NULL,
        grp TEXT NOT NULL,
        start_at INTEGER NOT NULL,
        end_at INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('scheduled', 'running', 'done', 'failed', 'skipped', 'cancelled')),
        run_id TEXT REFERENCES runs(id),
        outcome TEXT,
        announced_at INTEGER,
        reminded_at INTEGER,
        UNIQUE (plan_id, machine_id),
        FOREIGN KEY (plan_id, wave) REFERENCES plan_waves(plan_id, position)
      );
      CREATE INDEX plan_slots_plan ON plan_slots (plan_id, start_at);
      CREATE INDEX plan_slots_open ON plan_slots (state) WHERE state IN ('scheduled', 'running');
      CREATE TABLE plan_unplaced (
        plan_id TEXT NOT NULL REFERENCES plans(id),
        machine_id TEXT NOT NULL,
        name TEXT NOT NULL,
        grp TEXT NOT NULL,
        wave TEXT,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (plan_id, machine_id)
      );
    `,
  },
  {
    version: 6,
    name: "maintenance memberships the agents report: domain metadata and the agent's config",
    sql: `
      -- DomainMaintenance / HostMaintenance as JSON (shared/protocol/messages.ts), NULL when
      -- the domain's <metadata> or the agent's config puts the machine in no group.
      ALTER TABLE domains ADD COLUMN maintenance TEXT;
      ALTER TABLE hosts ADD COLUMN maintenance TEXT;
    `,
  },
  {
    version: 7,
    name: "the id of a VM's step that must not run twice, kept across controller restarts",
    sql: `
      -- The phase's one step that must not run twice (the patch, a reboot): its id, written before the
      -- request goes out, so a controller that restarts, however often, asks the agent about that same
      -- execution; step_sent is 1 once the request may have reached the agent. Both are cleared when the
      -- VM enters another phase.
      ALTER TABLE run_vms ADD COLUMN step_id TEXT;
      ALTER TABLE run_vms ADD COLUMN step_sent INTEGER NOT NULL DEFAULT 0;
      -- A VM in such a phase now: the id the previous version derived for its step, taken as sent.
      UPDATE run_vms SET step_sent = 1, step_id = run_id || ':' || position || ':' || phase || ':' || attempt || ':' ||
          CASE WHEN phase = 'reboot' AND (SELECT json_extract(r.spec, '$.reboot') FROM runs r WHERE r.id = run_vms.run_id) = 'if-required'
            THEN 2 ELSE 1 END
        WHERE outcome IS NULL AND phase IN ('preboot', 'patch', 'reboot');
    `,
  },
  {
    version: 8,
    name: "how many of a VM's disks its inventory entry left out",
    sql: `
      -- Domain.disksTruncated (shared/protocol/messages.ts): disks beyond MAX_DISKS_PER_DOMAIN.
      ALTER TABLE domains ADD COLUMN disks_truncated INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 9,
    name: "the event history is listed by receipt time",
    sql: `
      -- GET /v1/events orders and filters by received_at (the agent's time may be anything).
      CREATE INDEX events_received ON events (received_at);
      CREATE INDEX events_host_received ON events (host_id, received_at);
    `,
  },
  {
    version: 10,
    name: "operators' resolutions of VMs that needed attention",
    sql: `
      -- nightshift vm resolve: the VM no longer needs attention for what happened before resolved_at.
      -- run_vms keeps the outcome; runs is the JSON array of the runs whose needs-attention it cleared.
      CREATE TABLE vm_resolutions (
        id INTEGER PRIMARY KEY,
        host_id INTEGER NOT NULL REFERENCES hosts(id),
        vm TEXT NOT NULL,
        runs TEXT NOT NULL,
        resolved_at INTEGER NOT NULL,
        resolved_by TEXT NOT NULL,
        reason TEXT NOT NULL
      );
      CREATE INDEX vm_resolutions_vm ON vm_resolutions (host_id, vm, resolved_at);
    `,
  },
  {
    version: 11,
    name: "durations stored as a bare number of seconds get their unit",
    sql: `
      -- Durations in stored run specs and preferences written as a bare number of seconds ("30"),
      -- which earlier versions took: written with their unit now that a bare number is refused.
      UPDATE runs SET spec = json_set(spec, '$.patchTimeout', trim(json_extract(spec, '$.patchTimeout')) || 's')
        WHERE json_type(spec, '$.patchTimeout') = 'text' AND trim(json_extract(spec, '$.patchTimeout')) <> '' AND trim(json_extract(spec, '$.patchTimeout')) NOT GLOB '*[^0-9.]*';
      UPDATE runs SET spec = json_set(spec, '$.keepSnapshots', trim(json_extract(spec, '$.keepSnapshots')) || 's')
        WHERE json_type(spec, '$.keepSnapshots') = 'text' AND trim(json_extract(spec, '$.keepSnapshots')) <> '' AND trim(json_extract(spec, '$.keepSnapshots')) NOT GLOB '*[^0-9.]*';
      UPDATE runs SET spec = json_set(spec, '$.rebootIfOlderThan', trim(json_extract(spec, '$.rebootIfOlderThan')) || 's')
        WHERE json_type(spec, '$.rebootIfOlderThan') = 'text' AND trim(json_extract(spec, '$.rebootIfOlderThan')) <> '' AND trim(json_extract(spec, '$.rebootIfOlderThan')) NOT GLOB '*[^0-9.]*';
      UPDATE plans SET run_template = json_set(run_template, '$.patchTimeout', trim(json_extract(run_template, '$.patchTimeout')) || 's')
        WHERE json_type(run_template, '$.patchTimeout') = 'text' AND trim(json_extract(run_template, '$.patchTimeout')) <> '' AND trim(json_extract(run_template, '$.patchTimeout')) NOT GLOB '*[^0-9.]*';
      UPDATE plans SET run_template = json_set(run_template, '$.keepSnapshots', trim(json_extract(run_template, '$.keepSnapshots')) || 's')
        WHERE json_type(run_template, '$.keepSnapshots') = 'text' AND trim(json_extract(run_template, '$.keepSnapshots')) <> '' AND trim(json_extract(run_template, '$.keepSnapshots')) NOT GLOB '*[^0-9.]*';
      UPDATE plans SET run_template = json_set(run_template, '$.rebootIfOlderThan', trim(json_extract(run_template, '$.rebootIfOlderThan')) || 's')
        WHERE json_type(run_template, '$.rebootIfOlderThan') = 'text' AND trim(json_extract(run_template, '$.rebootIfOlderThan')) <> '' AND trim(json_extract(run_template, '$.rebootIfOlderThan')) NOT GLOB '*[^0-9.]*';
      UPDATE plan_preferences SET preference = json_set(preference, '$.notice', trim(json_extract(preference, '$.notice')) || 's')
        WHERE json_type(preference, '$.notice') = 'text' AND trim(json_extract(preference, '$.notice')) <> '' AND trim(json_extract(preference, '$.notice')) NOT GLOB '*[^0-9.]*';
    `,
  },
  {
    version: 12,
    name: "the libvirt state each host's agent reports",
    sql: `
      -- The agent's last libvirt-state message (shared/protocol/messages.ts): 'connected' or
      -- 'unreachable' with the connect error's code and reason, and since when (epoch ms, never
      -- later than its receipt). NULL: the agent never said (not connected yet, or older than this).
      ALTER TABLE hosts ADD COLUMN libvirt_state TEXT CHECK (libvirt_state IN ('connected', 'unreachable'));
      ALTER TABLE hosts ADD COLUMN libvirt_code TEXT;
      ALTER TABLE hosts ADD COLUMN libvirt_detail TEXT;
      ALTER TABLE hosts ADD COLUMN libvirt_since INTEGER;
    `,
  },
  {
    version: 13,
    name: "probe facts: each probe's fact as JSON, one row per host and probe",
    sql: `
      -- A health report's facts (shared/facts/), each as its probe sent it, checked against its
      -- schema; replaced as a whole by the host's next report. The mounts and host_health tables
      -- held the two facts there were before; their rows move here as the facts they were.
      CREATE TABLE probe_facts (
        host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        probe TEXT NOT NULL,
        fact TEXT NOT NULL,
        reported_at INTEGER NOT NULL,
        PRIMARY KEY (host_id, probe)
      );
      INSERT INTO probe_facts (host_id, probe, fact, reported_at)
        SELECT host_id, 'mounts',
               json_group_array(json_object('mountPoint', mount_point, 'fstype', fstype, 'source', source, 'state', state,
                 'inFstab', json(CASE in_fstab WHEN 0 THEN 'false' ELSE 'true' END),
                 'network', json(CASE network WHEN 0 THEN 'false' ELSE 'true' END))),
               max(updated_at)
        FROM (SELECT * FROM mounts ORDER BY host_id, mount_point) GROUP BY host_id;
      -- A report without the systemd fact left systemd_state NULL: no fact.
      INSERT INTO probe_facts (host_id, probe, fact, reported_at)
        SELECT host_id, 'systemd',
               json_object('state', systemd_state, 'failedUnits', json(failed_units),
                 'previousBootEmergency', json(CASE previous_boot_emergency WHEN 1 THEN 'true' WHEN 0 THEN 'false' ELSE 'null' END)),
               reported_at
        FROM host_health WHERE systemd_state IS NOT NULL;
      DROP TABLE mounts;
      DROP TABLE host_health;
    `,
  },
  {
    version: 14,
    name: "resolved findings are listed newest first and deleted by age",
    sql: `
      -- GET /v1/findings?resolved=true pages the history by resolved_at; retention deletes by it.
      CREATE INDEX findings_resolved ON findings (resolved_at) WHERE resolved_at IS NOT NULL;
    `,
  },
  {
    version: 15,
    name: "event ids are unique per host",
    sql: `
      -- An agent's event id was unique across all hosts, so a host that sent another host's ids first
      -- had that host's events taken for redeliveries: acked, never stored. Rebuilt with
      -- UNIQUE (host_id, event_id); rows, seq values, indexes and the append-only triggers are kept.
      DROP TRIGGER events_no_update;
      DROP TRIGGER events_no_delete;
      CREATE TABLE events_by_host (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        host_id INTEGER NOT NULL REFERENCES hosts(id),
        time INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        domain_name TEXT,
        domain_uuid TEXT,
        event TEXT,
        detail TEXT,
        data TEXT,
        UNIQUE (host_id, event_id)
      );
      INSERT INTO events_by_host (seq, event_id, host_id, time, received_at, kind, domain_name, domain_uuid, event, detail, data)
        SELECT seq, event_id, host_id, time, received_at, kind, domain_name, domain_uuid, event, detail, data FROM events;
      DROP TABLE events;
      ALTER TABLE events_by_host RENAME TO events;
      CREATE INDEX events_host_time ON events (host_id, time);
      CREATE INDEX events_time ON events (time);
      CREATE INDEX events_received ON events (received_at);
      CREATE INDEX events_host_received ON events (host_id, received_at);
      CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'event history is append-only'); END;
      CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'event history is append-only'); END;
    `,
  },
  {
    version: 16,
    name: "a host's emergency mode as its console (netconsole) reported it",
    sql: `
      -- JSON {since, target, boot, failedUnits, fstab: [{unit, line}]} while the host's console said it
      -- is in emergency or rescue mode; NULL once its agent said hello again (or never).
      ALTER TABLE hosts ADD COLUMN emergency TEXT;
      -- Each host's latest session (its address) without a scan of the whole session history.
      CREATE INDEX agent_sessions_host_connected ON agent_sessions (host_id, connected_at);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
