/**
 * The discovery engine (ffi/load.ts) on made-up libraries in temporary folders: candidate order,
 * the override variable, explicit failures, dependency preloading, checks, and the notice policy.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  fallBackNotice,
  libraryCandidates,
  LibraryNotFoundError,
  type LibrarySpec,
  openLibrary,
  openOrFallBack,
} from "../../ffi/load.ts";
import { assertThrows, testWith } from "../helpers.ts";

const LIBM = "/usr/lib/x86_64-linux-gnu/libm.so.6";
const COS = { cos: { parameters: ["f64"], result: "f64" } } as const;

let counter = 0;

/** A library spec of its own name and variable, so notices and caches never collide between tests. */
function fakeSpec(overrides: Partial<LibrarySpec<typeof COS>> = {}): LibrarySpec<typeof COS> {
  counter++;
  return {
    name: `Fake${counter}`,
    envVar: `EPSANET_TEST_LIBRARY_${counter}`,
    override: "only",
    platforms: {
      linux: { files: ["libfake.so.2", "libfake.so"], places: [{ loader: true }], install: "install libfake2" },
    },
    symbols: COS,
    ...overrides,
  };
}

function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.keys(vars).map((k) => [k, Deno.env.get(k)] as const);
  for (const [k, v] of Object.entries(vars)) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  try {
    return fn();
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
}

/** A temporary folder holding `files` (copies of libm when `real`, else empty files). */
function withFolder<T>(files: string[], fn: (dir: string) => T, real = false): T {
  const dir = Deno.makeTempDirSync({ prefix: "epsanet-ffi-" });
  try {
    for (const file of files) {
      Deno.mkdirSync(`${dir}/${file}`.replace(/\/[^/]+$/, ""), { recursive: true });
      if (real) Deno.copyFileSync(LIBM, `${dir}/${file}`);
      else Deno.writeTextFileSync(`${dir}/${file}`, "not a library");
    }
    return fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function captureStderr(fn: () => void): string[] {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    fn();
  } finally {
    console.error = original;
  }
  return lines;
}

const paths = (spec: LibrarySpec, platform?: "linux" | "darwin" | "windows") =>
  libraryCandidates(spec, platform).map((c) => c.path);

testWith("candidates follow the spec: override, install roots, loader path, folders; no stubs or repeats", [
  "env",
  "read",
], () => {
  const spec = fakeSpec({
    override: "first",
    platforms: {
      linux: {
        files: ["libfake.so.2", "libfake.so.1"],
        places: [
          { roots: ["EPSANET_TEST_ROOT"], rootFolders: (root) => [`${root}/lib64`, `${root}/lib`] },
          { loader: true },
          { folders: ["/opt/fake/lib", "/opt/fake/stubs", "/opt/fake/lib"] },
          { folders: () => ["/opt/fake/computed"] },
        ],
        install: "install libfake",
      },
    },
  });
  withFolder([], (dir) => {
    withEnv({ [spec.envVar]: `${dir}:/x/libfake.so.2.1:/x/libother.so.2`, EPSANET_TEST_ROOT: "/opt/root/" }, () => {
      assert.deepEqual(paths(spec), [
        `${dir}/libfake.so.2`,
        `${dir}/libfake.so.1`,
        "/x/libfake.so.2.1",
        "/opt/root/lib64/libfake.so.2",
        "/opt/root/lib64/libfake.so.1",
        "/opt/root/lib/libfake.so.2",
        "/opt/root/lib/libfake.so.1",
        "libfake.so.2",
        "libfake.so.1",
        "/opt/fake/lib/libfake.so.2",
        "/opt/fake/lib/libfake.so.1",
        "/opt/fake/computed/libfake.so.2",
        "/opt/fake/computed/libfake.so.1",
      ]);
      const from = libraryCandidates(spec).map((c) => c.from);
      assert.deepEqual(from.slice(0, 3), ["override", "override", "override"]);
      assert.equal(from[7], "loader");
    });
  });
});

testWith('an "only" override replaces the search and takes any file name', ["env", "read"], () => {
  const spec = fakeSpec();
  withEnv({ [spec.envVar]: "/x/libmkl_rt.so" }, () => assert.deepEqual(paths(spec), ["/x/libmkl_rt.so"]));
  withEnv({ [spec.envVar]: undefined }, () => assert.deepEqual(paths(spec), ["libfake.so.2", "libfake.so"]));
  withEnv({ [spec.envVar]: "none" }, () => assert.deepEqual(paths(spec), ["libfake.so.2", "libfake.so"]));
});

testWith("each operating system has its own names, folders and list separator", ["env", "read"], () => {
  const spec = fakeSpec({
    platforms: {
      linux: { files: ["libfake.so.2"], places: [{ loader: true }], install: "install libfake2" },
      darwin: {
        files: ["libfake.2.dylib"],
        places: [{ folders: ["/opt/homebrew/lib"] }],
        install: "brew install fake",
      },
      windows: { files: ["fake.dll"], places: [{ loader: true }], install: "install Fake" },
    },
  });
  assert.deepEqual(paths(spec, "darwin"), ["/opt/homebrew/lib/libfake.2.dylib"]);
  assert.deepEqual(paths(spec, "windows"), ["fake.dll"]);
  withEnv({ [spec.envVar]: "C:/fake/fake.dll;D:/other/fake.dll" }, () => {
    assert.deepEqual(paths(spec, "windows"), ["C:/fake/fake.dll", "D:/other/fake.dll"]);
  });
  assert.deepEqual(paths(fakeSpec({ platforms: {} }), "linux"), []);
});

testWith("an override that does not exist is an error naming the variable and the path", ["ffi", "env", "read"], () => {
  const spec = fakeSpec();
  withEnv({ [spec.envVar]: "/nonexistent/libfake.so.2" }, () => {
    let error: unknown;
    try {
      openLibrary(spec);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof LibraryNotFoundError);
    assert.equal(error.variable, spec.envVar);
    assert.equal(
      error.message,
      `${spec.envVar}=/nonexistent/libfake.so.2: /nonexistent/libfake.so.2 does not exist; point ${spec.envVar} ` +
        `at the ${spec.name} library file or its folder, or set ${spec.envVar}=none to do without it`,
    );
    assert.throws(() => openOrFallBack(spec, "using nothing"), /does not exist/, "no fallback for an explicit choice");
    assert.throws(() => openOrFallBack(spec, "using nothing"), /does not exist/, "asked again, still an error");
  });
});

testWith("an override file that does not load, or a folder without the library, is an error", [
  "ffi",
  "env",
  "read",
  "write",
], () => {
  withFolder(["libfake.so.2"], (dir) => {
    const spec = fakeSpec();
    withEnv({ [spec.envVar]: `${dir}/libfake.so.2` }, () => {
      assert.throws(() => openLibrary(spec), (e: unknown) => {
        assert.ok(e instanceof LibraryNotFoundError && e.variable === spec.envVar);
        assert.match(e.message, new RegExp(`^${spec.envVar}=${dir}/libfake\\.so\\.2: .* does not load \\(.+\\); `));
        return true;
      });
    });
  });
  withFolder([], (dir) => {
    const spec = fakeSpec();
    withEnv({ [spec.envVar]: dir }, () => {
      assertThrows(() => openLibrary(spec), new RegExp(`^${spec.envVar}=${dir}: holds none of libfake`));
    });
  });
});

testWith("none switches a library off without a notice", ["ffi", "env", "read"], () => {
  const spec = fakeSpec();
  withEnv({ [spec.envVar]: "none" }, () => {
    assertThrows(() => openLibrary(spec), new RegExp(`^${spec.envVar}=none;`));
    const lines = captureStderr(() => {
      const result = openOrFallBack(spec, "using nothing");
      assert.equal(result.library, null);
      assert.equal(result.library === null && result.reason, `${spec.envVar}=none`);
    });
    assert.deepEqual(lines, []);
  });
});

testWith("a library not found gives one short line, and every place tried in `tried`", ["ffi", "env", "read"], () => {
  const spec = fakeSpec({
    platforms: {
      linux: {
        files: ["libfake.so.2", "libfake.so"],
        places: [{ loader: true }, { folders: ["/nonexistent/a", "/nonexistent/b"] }],
        install: "install libfake2",
      },
    },
  });
  withEnv({ [spec.envVar]: undefined, EPSANET_VERBOSE: undefined }, () => {
    assert.throws(() => openLibrary(spec), (e: unknown) => {
      assert.ok(e instanceof LibraryNotFoundError && e.variable === undefined);
      assert.equal(e.summary, `${spec.name} not found`);
      assert.equal(
        e.message,
        `${spec.name} not found; install libfake2, or set ${spec.envVar} to the library file ` +
          "(EPSANET_VERBOSE=1 lists the 4 places tried)",
      );
      assert.deepEqual(e.tried.slice(0, 2), [
        "/nonexistent/a/{libfake.so.2,libfake.so} (absent)",
        "/nonexistent/b/{libfake.so.2,libfake.so} (absent)",
      ]);
      assert.match(e.tried[2], /^the loader path \(libfake\.so\.2: .+\)$/);
      return true;
    });
  });
  withEnv({ [spec.envVar]: undefined, EPSANET_VERBOSE: "1" }, () => {
    assert.throws(() => openLibrary(spec), /\(EPSANET_VERBOSE=1 lists the 4 places tried\)\. Tried: \/nonexistent\/a/);
  });
});

testWith("the fallback notice is printed once per library, with the places tried only when verbose", [
  "ffi",
  "env",
  "read",
], () => {
  const quiet = fakeSpec();
  const expected = `epsanet: no ${quiet.name} found; using the slow path (install libfake2 for full speed; ` +
    "EPSANET_VERBOSE=1 lists the places tried)";
  assert.equal(`epsanet: ${fallBackNotice(quiet, "using the slow path")}`, expected);
  withEnv({ [quiet.envVar]: undefined, EPSANET_VERBOSE: undefined }, () => {
    const lines = captureStderr(() => {
      for (let i = 0; i < 3; i++) assert.equal(openOrFallBack(quiet, "using the slow path").library, null);
    });
    assert.deepEqual(lines, [expected]);
  });
  const loud = fakeSpec();
  withEnv({ [loud.envVar]: undefined, EPSANET_VERBOSE: "1" }, () => {
    const lines = captureStderr(() => {
      openOrFallBack(loud, "using the slow path");
      openOrFallBack(loud, "using the slow path");
    });
    assert.equal(lines.length, 1 + 1 + 2, lines.join("\n"));
    assert.match(lines[1], new RegExp(`^epsanet: ${loud.name}: 2 place\\(s\\) tried, in order:$`));
    assert.match(lines[2], /^ {2}the loader path \(libfake\.so\.2: /);
  });
});

testWith("dependencies are preloaded from the library's folder, and a missing one rejects it", [
  "ffi",
  "env",
  "read",
  "write",
], () => {
  withFolder(["lib/libfake.so.2", "lib/libdep.so.2", "other/libfake.so.2"], (dir) => {
    const asked: string[] = [];
    const spec = fakeSpec({
      override: "first",
      platforms: {
        linux: { files: ["libfake.so.2"], places: [{ folders: [`${dir}/other`] }], install: "install libfake2" },
      },
      dependencies(folder, file, listing) {
        asked.push(`${folder}|${file}|${[...listing].sort().join(",")}`);
        return [{ file: "libdep.so.2", optional: false }, { file: "libextra.so.2", optional: true }];
      },
    });
    withEnv({ [spec.envVar]: `${dir}/lib` }, () => {
      const { library, path } = openLibrary(spec);
      assert.equal(path, `${dir}/lib/libfake.so.2`, "the override folder comes first");
      assert.equal(library.symbols.cos(0), 1);
      assert.deepEqual(asked, [`${dir}/lib|libfake.so.2|libdep.so.2,libfake.so.2`]);
    });
    withEnv({ [spec.envVar]: undefined }, () => {
      assert.throws(() => openLibrary(spec), (e: unknown) => {
        assert.ok(e instanceof LibraryNotFoundError);
        assert.match(e.tried[0], new RegExp(`^${dir}/other/libfake\\.so\\.2 \\(libdep\\.so\\.2: .+\\)$`));
        return true;
      });
    });
  }, true);
});

testWith("a candidate its check rejects is skipped for the next one", ["ffi", "env", "read", "write"], () => {
  withFolder(["old/libfake.so.2", "new/libfake.so.2"], (dir) => {
    const spec = fakeSpec({
      platforms: {
        linux: {
          files: ["libfake.so.2"],
          places: [{ folders: [`${dir}/old`, `${dir}/new`] }],
          install: "install libfake2",
        },
      },
    });
    let calls = 0;
    const checked = { ...spec, validate: () => (calls++ === 0 ? "version 3; only 2 is supported" : undefined) };
    withEnv({ [spec.envVar]: undefined }, () => assert.equal(openLibrary(checked).path, `${dir}/new/libfake.so.2`));
  }, true);
});
