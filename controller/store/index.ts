/** The controller's store: one SQLite database, one object per table family. */
import { openDatabase, type Db, type OpenOptions } from "./db.js";
import { MIGRATIONS } from "./migrations.js";
import { HostStore } from "./hosts.js";
import { DomainStore } from "./domains.js";
import { EventStore } from "./events.js";
import { ApiTokenStore } from "./api-tokens.js";
import { SessionStore } from "./sessions.js";
import { HealthStore } from "./health.js";
import { RunStore } from "./runs.js";
import { PlanStore } from "./plans.js";

export class Store {
  readonly hosts: HostStore;
  readonly domains: DomainStore;
  readonly events: EventStore;
  readonly apiTokens: ApiTokenStore;
  readonly sessions: SessionStore;
  readonly health: HealthStore;
  readonly runs: RunStore;
  readonly plans: PlanStore;

  constructor(readonly db: Db) {
    this.hosts = new HostStore(db);
    this.domains = new DomainStore(db);
    this.events = new EventStore(db);
    this.apiTokens = new ApiTokenStore(db);
    this.sessions = new SessionStore(db);
    this.health = new HealthStore(db);
    this.runs = new RunStore(db);
    this.plans = new PlanStore(db);
  }

  static open(file: string, options: OpenOptions = {}): Store {
    return new Store(openDatabase(file, MIGRATIONS, options));
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    this.db.close();
  }
}
