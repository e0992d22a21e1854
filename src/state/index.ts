// What other parts of berth use of state/: the atomic JSON record store.
export { RecordStore } from './record-store.js';
