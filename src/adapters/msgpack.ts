import { Packr } from 'msgpackr';

/** The one msgpack configuration for the peer port: plain maps and arrays, bytes as bytes. */
export const peerPackr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true, int64AsType: 'number' });
