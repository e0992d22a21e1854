// Docker's JSON checks: a wrong type is refused with the message Go's decoder gives.
import { invalidParameter } from '../../lib/errors.js';

export type Json = Record<string, unknown>;

export const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function field<T>(obj: Json, key: string, where: string, check: (v: unknown) => v is T, type: string): T | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!check(v)) throw invalidParameter(`json: cannot unmarshal ${jsType(v)} into Go struct field ${where}.${key} of type ${type}`);
  return v;
}

export function jsType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v;
}

export const isStr = (v: unknown): v is string => typeof v === 'string';
export const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/**
 * An integer a Go int64 field takes. Past 2^53 a JSON number has lost its digits on the way
 * in (`-9223372036854776000` arrives as -2^63, which Go refuses as out of range), so only
 * exact integers are taken: the runtime would be handed a number nobody sent.
 */
export const isInt = (v: unknown): v is number => isNum(v) && Number.isSafeInteger(v);
export const isStrArr = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);
export const isStrMap = (v: unknown): v is Record<string, string> => isObj(v) && Object.values(v).every(isStr);

/** Docker's strslice: a JSON string or a list of strings. */
export function strSlice(obj: Json, key: string, where: string): string[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (isStrArr(v)) return v;
  throw invalidParameter(`json: cannot unmarshal ${jsType(v)} into Go struct field ${where}.${key} of type strslice.StrSlice`);
}

