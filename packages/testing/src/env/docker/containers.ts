import type { StartedTestContainer } from 'testcontainers';

/** One user's hold on a shared container; the container stops when the last lease is released. */
export interface ContainerLease {
  /** Connection URL of the service inside the container, reachable from this process. */
  readonly url: string;
  /** Gives the lease back; idempotent. Stops the container when no other lease is held. */
  release(): Promise<void>;
}

interface Started {
  readonly container: StartedTestContainer;
  readonly url: string;
}

/**
 * A container started on first use and shared by every test of this process that asks for it,
 * reference-counted: the release of the last lease stops (and removes) it, and the next acquire
 * starts a new one. If the process dies with the container running, the testcontainers reaper
 * (Ryuk) removes it.
 */
class SharedContainer {
  #started: Promise<Started> | undefined;
  #users = 0;
  readonly #start: () => Promise<Started>;

  constructor(start: () => Promise<Started>) {
    this.#start = start;
  }

  async acquire(): Promise<ContainerLease> {
    this.#users += 1;
    if (this.#started === undefined) this.#started = this.#start();
    const started = this.#started;
    let current: Started;
    try {
      current = await started;
    } catch (error) {
      this.#users -= 1;
      if (this.#started === started) this.#started = undefined;
      throw error;
    }
    let released = false;
    return {
      url: current.url,
      release: async () => {
        if (released) return;
        released = true;
        this.#users -= 1;
        if (this.#users === 0 && this.#started === started) {
          this.#started = undefined;
          await current.container.stop();
        }
      },
    };
  }
}

/** The shared `postgres:16-alpine` container (trust auth, data on tmpfs, fsync off). */
export const postgresContainer = new SharedContainer(async () => {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('postgres:16-alpine')
    .withEnvironment({ POSTGRES_PASSWORD: 'postgres', POSTGRES_HOST_AUTH_METHOD: 'trust' })
    .withExposedPorts(5432)
    .withTmpFs({ '/var/lib/postgresql/data': 'rw' })
    .withCommand(['postgres', '-c', 'fsync=off', '-c', 'synchronous_commit=off'])
    // The entrypoint starts a temporary server for initdb first: wait for the second "ready".
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const url = `postgres://postgres:postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`;
  return { container, url };
});

/** The shared `redis:7-alpine` container (no persistence). */
export const redisContainer = new SharedContainer(async () => {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('redis:7-alpine')
    .withExposedPorts(6379)
    .withCommand(['redis-server', '--save', '', '--appendonly', 'no'])
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
    .start();
  const url = `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
  return { container, url };
});
