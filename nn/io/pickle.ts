/**
 * A restricted unpickler: it decodes the pickle opcodes that a PyTorch state dict uses (protocols 2
 * to 5) and executes nothing. Every global the stream names goes through the caller's `findGlobal`,
 * which returns a harmless stand-in or refuses; a refused global stops decoding before anything
 * could use it. Only stand-ins that are {@linkcode PyCallable} can be called (REDUCE, NEWOBJ), so
 * the caller decides exactly what "calling" means. The work is bounded by the input: each opcode
 * consumes at least one byte and pushes at most one value, and every length is checked against the
 * bytes that remain before anything is allocated.
 *
 * Python values become: None -> null, bool -> boolean, int -> number (bigint beyond 2^53),
 * float -> number, str -> string, bytes -> Uint8Array, list -> array, tuple -> frozen array,
 * dict -> Map, set -> Set.
 *
 * @example
 * ```ts
 * import { unpickle } from "./pickle.ts";
 * // pickle.dumps({"a": 1}, protocol=2)
 * const bytes = new Uint8Array([0x80, 2, 0x7d, 0x71, 0, 0x58, 1, 0, 0, 0, 0x61, 0x71, 1, 0x4b, 1, 0x73, 0x2e]);
 * const value = unpickle(bytes, { label: "demo", findGlobal: (m, n) => { throw new Error(`No ${m}.${n}`); } });
 * console.log(value); // Map { "a" => 1 }
 * ```
 *
 * @module
 */

/** A stand-in for a Python callable that the caller allows. */
export class PyCallable {
  /**
   * @param name The global's dotted name, for error messages.
   * @param call What calling it with positional arguments yields.
   */
  constructor(readonly name: string, readonly call: (args: readonly unknown[]) => unknown) {}
}

/** Options of {@linkcode unpickle}. */
export interface UnpickleOptions {
  /** The source's name, for error messages. */
  label: string;
  /** Where decoding starts (default 0). */
  offset?: number;
  /** Resolves GLOBAL / STACK_GLOBAL; throws a one-line Error to refuse. */
  findGlobal(module: string, name: string): unknown;
  /** Resolves persistent ids (BINPERSID); absent means persistent ids are refused. */
  persistentLoad?(pid: unknown): unknown;
}

/** The result of {@linkcode unpickleAt}: the value and the offset after its STOP opcode. */
export interface Unpickled {
  /** The decoded object. */
  value: unknown;
  /** The byte after STOP, where a following pickle would start. */
  end: number;
}

const MAX_PROTOCOL = 5;

/** Reads the input with bounds checks that fail with the caller's one-line Error. */
class Reader {
  pos: number;
  readonly #view: DataView;

  /**
   * @param bytes The pickle.
   * @param start Where reading begins.
   * @param fail Throws the unpickler's one-line Error.
   */
  constructor(readonly bytes: Uint8Array, start: number, readonly fail: (problem: string) => never) {
    this.pos = start;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(size: number): number {
    if (size < 0 || this.pos + size > this.bytes.length) {
      this.fail(`needs ${size} more bytes at byte ${this.pos}, but the data ends at ${this.bytes.length} (truncated?)`);
    }
    const at = this.pos;
    this.pos += size;
    return at;
  }

  u8(): number {
    return this.bytes[this.#need(1)];
  }
  u16(): number {
    return this.#view.getUint16(this.#need(2), true);
  }
  u32(): number {
    return this.#view.getUint32(this.#need(4), true);
  }
  i32(): number {
    return this.#view.getInt32(this.#need(4), true);
  }
  u64(): number {
    const value = this.#view.getBigUint64(this.#need(8), true);
    // Any length this large exceeds the input; report it instead of losing precision.
    return value > BigInt(this.bytes.length) ? this.bytes.length + 1 : Number(value);
  }
  f64(): number {
    return this.#view.getFloat64(this.#need(8), false); // BINFLOAT is big-endian
  }
  take(size: number): Uint8Array {
    const at = this.#need(size);
    return this.bytes.subarray(at, at + size);
  }
  text(size: number): string {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(this.take(size));
    } catch {
      return this.fail(`holds a string that is not valid UTF-8 before byte ${this.pos}`);
    }
  }
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.fail(`has an unterminated line at byte ${this.pos}`);
    const text = new TextDecoder().decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }
}

/** Little-endian two's complement, as LONG1 and LONG4 store it. */
function decodeLong(data: Uint8Array): number | bigint {
  let value = 0n;
  for (let i = data.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(data[i]);
  if (data.length && data[data.length - 1] & 0x80) value -= 1n << BigInt(8 * data.length);
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** The value stack, its marks and the memo. */
class Machine {
  readonly stack: unknown[] = [];
  readonly marks: number[] = [];
  readonly memo = new Map<number, unknown>();

  constructor(readonly reader: Reader, readonly options: UnpickleOptions) {}

  push(value: unknown): void {
    this.stack.push(value);
  }
  pop(): unknown {
    if (this.stack.length === 0 || this.stack.length === this.marks.at(-1)) {
      this.reader.fail(`pops an empty stack at byte ${this.reader.pos}`);
    }
    return this.stack.pop();
  }
  top(): unknown {
    if (this.stack.length === 0) this.reader.fail(`reads an empty stack at byte ${this.reader.pos}`);
    return this.stack[this.stack.length - 1];
  }
  popMark(): unknown[] {
    const mark = this.marks.pop();
    if (mark === undefined) this.reader.fail(`has no MARK before byte ${this.reader.pos}`);
    return this.stack.splice(mark);
  }
  get(key: number): unknown {
    if (!this.memo.has(key)) this.reader.fail(`reads memo entry ${key}, which was never stored`);
    return this.memo.get(key);
  }
  put(key: number): void {
    this.memo.set(key, this.top());
  }
  global(module: string, name: string): void {
    this.push(this.options.findGlobal(module, name));
  }
  call(callee: unknown, args: unknown): void {
    if (!(callee instanceof PyCallable)) this.reader.fail(`calls a value that is not an allowed callable`);
    if (!Array.isArray(args)) this.reader.fail(`calls ${callee.name} with arguments that are not a tuple`);
    this.push(callee.call(args));
  }
  list(): unknown[] {
    const list = this.top();
    if (!Array.isArray(list) || Object.isFrozen(list)) this.reader.fail(`appends to a value that is not a list`);
    return list;
  }
  dict(): Map<unknown, unknown> {
    const dict = this.top();
    if (!(dict instanceof Map)) this.reader.fail(`sets an item on a value that is not a dict`);
    return dict;
  }
  setItems(items: unknown[]): void {
    if (items.length % 2) this.reader.fail(`has an odd number of SETITEMS values`);
    const dict = this.dict();
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  }
  addItems(items: unknown[]): void {
    const set = this.top();
    if (!(set instanceof Set)) this.reader.fail(`adds items to a value that is not a set`);
    for (const item of items) set.add(item);
  }
  /** BUILD sets attributes (a state dict's `_metadata`); tensors need none, so the state is dropped. */
  build(): void {
    this.pop();
    const target = this.top();
    if (typeof target !== "object" || target === null || Object.isFrozen(target)) {
      this.reader.fail(`sets state on a value that cannot hold it`);
    }
  }
  persistent(pid: unknown): void {
    if (!this.options.persistentLoad) this.reader.fail(`uses a persistent id, which this stream may not hold`);
    this.push(this.options.persistentLoad(pid));
  }
}

/** Opcodes that only move data; each returns false when it does not know the opcode. */
function dataOpcode(op: number, m: Machine): boolean {
  const r = m.reader;
  switch (op) {
    case 0x4e: // NONE
      m.push(null);
      return true;
    case 0x88: // NEWTRUE
    case 0x89: // NEWFALSE
      m.push(op === 0x88);
      return true;
    case 0x4a: // BININT
      m.push(r.i32());
      return true;
    case 0x4b: // BININT1
      m.push(r.u8());
      return true;
    case 0x4d: // BININT2
      m.push(r.u16());
      return true;
    case 0x8a: // LONG1
      m.push(decodeLong(r.take(r.u8())));
      return true;
    case 0x8b: { // LONG4
      const size = r.i32();
      m.push(decodeLong(r.take(size)));
      return true;
    }
    case 0x47: // BINFLOAT
      m.push(r.f64());
      return true;
    case 0x58: // BINUNICODE
    case 0x54: // BINSTRING (Python 2 str; torch files hold ASCII here)
      m.push(r.text(r.u32()));
      return true;
    case 0x8c: // SHORT_BINUNICODE
    case 0x55: // SHORT_BINSTRING
      m.push(r.text(r.u8()));
      return true;
    case 0x8d: // BINUNICODE8
      m.push(r.text(r.u64()));
      return true;
    case 0x42: // BINBYTES
      m.push(r.take(r.u32()));
      return true;
    case 0x43: // SHORT_BINBYTES
      m.push(r.take(r.u8()));
      return true;
    case 0x8e: // BINBYTES8
    case 0x96: // BYTEARRAY8
      m.push(r.take(r.u64()));
      return true;
  }
  return false;
}

/** Opcodes that build containers and use the memo. */
function structureOpcode(op: number, m: Machine): boolean {
  const r = m.reader;
  switch (op) {
    case 0x28: // MARK
      m.marks.push(m.stack.length);
      return true;
    case 0x29: // EMPTY_TUPLE
      m.push(Object.freeze([]));
      return true;
    case 0x74: // TUPLE
      m.push(Object.freeze(m.popMark()));
      return true;
    case 0x85: // TUPLE1
    case 0x86: // TUPLE2
    case 0x87: { // TUPLE3
      const items: unknown[] = [];
      for (let i = 0; i <= op - 0x85; i++) items.unshift(m.pop());
      m.push(Object.freeze(items));
      return true;
    }
    case 0x5d: // EMPTY_LIST
      m.push([]);
      return true;
    case 0x61: { // APPEND
      const item = m.pop();
      m.list().push(item);
      return true;
    }
    case 0x65: { // APPENDS
      const items = m.popMark();
      const list = m.list();
      for (const item of items) list.push(item); // a spread of a huge MARK group would overflow the call stack
      return true;
    }
    case 0x7d: // EMPTY_DICT
      m.push(new Map());
      return true;
    case 0x73: { // SETITEM
      const value = m.pop();
      const key = m.pop();
      m.dict().set(key, value);
      return true;
    }
    case 0x75: // SETITEMS
      m.setItems(m.popMark());
      return true;
    case 0x8f: // EMPTY_SET
      m.push(new Set());
      return true;
    case 0x90: // ADDITEMS
      m.addItems(m.popMark());
      return true;
    case 0x91: // FROZENSET
      m.push(Object.freeze(new Set(m.popMark())));
      return true;
    case 0x71: // BINPUT
      m.put(r.u8());
      return true;
    case 0x72: // LONG_BINPUT
      m.put(r.u32());
      return true;
    case 0x94: // MEMOIZE
      m.put(m.memo.size);
      return true;
    case 0x68: // BINGET
      m.push(m.get(r.u8()));
      return true;
    case 0x6a: // LONG_BINGET
      m.push(m.get(r.u32()));
      return true;
    case 0x30: // POP
      m.pop();
      return true;
    case 0x31: // POP_MARK
      m.popMark();
      return true;
    case 0x32: // DUP
      m.push(m.top());
      return true;
  }
  return false;
}

/** Opcodes that name globals or "call" them: only the caller's stand-ins can answer. */
function objectOpcode(op: number, m: Machine): boolean {
  const r = m.reader;
  switch (op) {
    case 0x63: // GLOBAL
      m.global(r.line(), r.line());
      return true;
    case 0x93: { // STACK_GLOBAL
      const name = m.pop();
      const module = m.pop();
      if (typeof module !== "string" || typeof name !== "string") return r.fail(`names a global with non-string parts`);
      m.global(module, name);
      return true;
    }
    case 0x52: { // REDUCE
      const args = m.pop();
      m.call(m.pop(), args);
      return true;
    }
    case 0x81: { // NEWOBJ
      const args = m.pop();
      m.call(m.pop(), args);
      return true;
    }
    case 0x62: // BUILD
      m.build();
      return true;
    case 0x51: // BINPERSID
      m.persistent(m.pop());
      return true;
    case 0x95: // FRAME: a hint for buffered readers; the frame's bytes follow as ordinary opcodes
      r.u64();
      return true;
    case 0x98: // READONLY_BUFFER
      return true;
  }
  return false;
}

function opcodeName(op: number): string {
  const printable = op >= 0x21 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : "";
  return `0x${op.toString(16).padStart(2, "0")}${printable}`;
}

/**
 * Decodes one pickle starting at `options.offset` and says where it ended, so that a stream of
 * several pickles (PyTorch's legacy format) can be read one after another.
 *
 * @param bytes The data.
 * @param options `label`, `findGlobal`, `persistentLoad`, `offset`.
 * @returns The value and the offset after its STOP opcode.
 * @throws A one-line Error naming `label`: truncated data, an unsupported opcode or protocol, a
 *   malformed stack, or whatever `findGlobal` and `persistentLoad` throw for refused names.
 * @example
 * ```ts
 * import { unpickleAt } from "./pickle.ts";
 * // pickle.dumps(7, protocol=2) twice
 * const bytes = new Uint8Array([0x80, 2, 0x4b, 7, 0x2e, 0x80, 2, 0x4b, 7, 0x2e]);
 * const refuse = (m: string, n: string): never => { throw new Error(`No ${m}.${n}`); };
 * const first = unpickleAt(bytes, { label: "demo", findGlobal: refuse });
 * const second = unpickleAt(bytes, { label: "demo", findGlobal: refuse, offset: first.end });
 * ```
 */
export function unpickleAt(bytes: Uint8Array, options: UnpickleOptions): Unpickled {
  const fail: (problem: string) => never = (problem) => {
    throw new Error(`Invalid pickle in ${options.label}: it ${problem}`);
  };
  const machine = new Machine(new Reader(bytes, options.offset ?? 0, fail), options);
  const r = machine.reader;
  for (;;) {
    const at = r.pos;
    const op = r.u8();
    if (op === 0x2e) { // STOP
      if (machine.stack.length !== 1 || machine.marks.length) {
        fail(`stops with ${machine.stack.length} values on the stack`);
      }
      return { value: machine.stack[0], end: r.pos };
    }
    if (op === 0x80) { // PROTO
      const protocol = r.u8();
      if (protocol < 2 || protocol > MAX_PROTOCOL) {
        fail(`uses protocol ${protocol}; protocols 2 to ${MAX_PROTOCOL} are supported`);
      }
      continue;
    }
    if (op === 0x69) fail(`uses INST (protocol 0 class creation) at byte ${at}, which is not supported`);
    if (!dataOpcode(op, machine) && !structureOpcode(op, machine) && !objectOpcode(op, machine)) {
      fail(
        `has opcode ${opcodeName(op)} at byte ${at}, which a state dict does not use and this reader does not support`,
      );
    }
  }
}

/**
 * Decodes one pickle (see {@linkcode unpickleAt}).
 *
 * @param bytes The data.
 * @param options `label`, `findGlobal`, `persistentLoad`, `offset`.
 * @returns The decoded value.
 * @throws A one-line Error naming `label` (see {@linkcode unpickleAt}).
 * @example
 * ```ts
 * import { unpickle } from "./pickle.ts";
 * const value = unpickle(new Uint8Array([0x80, 2, 0x4e, 0x2e]), {
 *   label: "demo",
 *   findGlobal: (m, n) => { throw new Error(`No ${m}.${n}`); },
 * }); // null
 * ```
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  return unpickleAt(bytes, options).value;
}
