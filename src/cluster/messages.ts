/**
 * Docker's user-visible sentences for swarm mode, in one catalog: clients and scripts match on
 * them (measured against dockerd 20.10 where noted in the tests).
 */
export const NO_LEADER =
  "The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.";
export const NOT_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
export const NOT_IN_SWARM = 'This node is not part of a swarm';
export const ALREADY_IN_SWARM = 'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.';
export const LEAVE_LAST_MANAGER =
  'You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.';
export const AUTOLOCK_REFUSED =
  'berth does not support autolock yet (--autolock): the cluster key is kept on the managers\' disks (mode 0600); run swarm init without --autolock';
export const INGRESS_REFUSED =
  'berth does not support the ingress routing mesh yet: publish in host mode instead, for example --publish mode=host,target=80,published=8080';
export const OVERLAY_REFUSED = (name: string) =>
  `berth does not support overlay networks yet (network ${name}): services run on each node's default bridge; publish ports with --publish mode=host`;
export const CA_ROTATE_REFUSED = 'berth does not support rotating the swarm CA yet (swarm ca --rotate)';
export const nameConflict = (kind: string, name: string) =>
  `rpc error: code = AlreadyExists desc = name conflicts with an existing object: ${kind} ${name} already exists`;
export const secretExists = (kind: string, name: string) => `rpc error: code = AlreadyExists desc = ${kind} ${name} already exists`;
export const notFoundMsg = (kind: string, ref: string) => `${kind} ${ref} not found`;
export const updateOutOfSequence = 'rpc error: code = Unknown desc = update out of sequence';

/**
 * The warning Docker does not give: how many manager losses the cluster survives. Quorum is a
 * majority, so N managers tolerate floor((N-1)/2) losses; an even N tolerates no more than N-1.
 */
export function managerWarnings(managers: number): string[] {
  const tolerated = Math.floor((managers - 1) / 2);
  const out: string[] = [];
  if (managers < 3) {
    out.push(
      `WARNING: Running Swarm in a ${managers}-manager configuration: the swarm tolerates ${tolerated} manager failure${tolerated === 1 ? '' : 's'}; ` +
        'if a manager is lost, the swarm cannot be managed (update, scale, deploy) until it is back. Use an odd number of managers, at least 3.',
    );
  } else if (managers % 2 === 0) {
    out.push(
      `WARNING: Running Swarm with an even number of managers (${managers}): the swarm tolerates ${tolerated} manager failure${tolerated === 1 ? '' : 's'}, ` +
        `no more than with ${managers - 1}. Use an odd number of managers.`,
    );
  }
  return out;
}

/** A node's status message once the leader has marked it down (swarmkit's dispatcher). */
export const HEARTBEAT_FAILURE = 'heartbeat failure';
export const HEARTBEAT_FAILURE_UNKNOWN = 'heartbeat failure for node in "unknown" state';
