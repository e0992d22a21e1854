/**
 * go-units `HumanDuration` (docker/go-units `duration.go`), which Docker uses for the STATUS
 * column of `docker ps`. Go truncates each unit toward zero except hours, which it rounds;
 * a negative duration (clock skew) reads "Less than a second", as in Go.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

export type StatusTextState = {
  status: 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead' | 'removing';
  startedAtMs?: number;
  finishedAtMs?: number;
  exitCode?: number;
  /** A running container's health, as ps shows it (`healthy`, `health: starting`). */
  health?: string;
};

/** The `Status` text of `docker ps` (moby `container/state.go` `State.String`). */
export function containerStatusText(state: StatusTextState, nowMs: number): string {
  const since = (t: number | undefined) => humanDuration(nowMs - (t ?? nowMs));
  switch (state.status) {
    case 'running':
      return state.health ? `Up ${since(state.startedAtMs)} (${state.health})` : `Up ${since(state.startedAtMs)}`;
    case 'paused':
      return `Up ${since(state.startedAtMs)} (Paused)`;
    case 'restarting':
      return `Restarting (${state.exitCode ?? 0}) ${since(state.finishedAtMs)} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'created':
      return 'Created';
    case 'exited':
      // Docker shows a container that never started as Created, and has no text for one
      // that started but has no finish time.
      if (state.startedAtMs === undefined) return 'Created';
      if (state.finishedAtMs === undefined) return '';
      return `Exited (${state.exitCode ?? 0}) ${since(state.finishedAtMs)} ago`;
  }
}
