/**
 * CI executes `examples/notebook.ipynb` headlessly in Deno's Jupyter kernel
 * with the workplace's `../shared/tools/notebook-check.sh` (beside the
 * repository), which fails when any cell throws or times out.
 */
import assert from "node:assert/strict";

const repoRoot = new URL("../", import.meta.url);
const script = new URL("../shared/tools/notebook-check.sh", repoRoot);
const notebook = new URL("examples/notebook.ipynb", repoRoot);

function isFile(url: URL): boolean {
  try {
    return Deno.statSync(url).isFile;
  } catch {
    return false;
  }
}

const available = isFile(script);
if (!available) {
  console.warn(
    `notebook test skipped: ${script.pathname} not found (CI has ../shared beside the repo)`,
  );
}

Deno.test({
  name: "examples/notebook.ipynb executes without errors (notebook-check.sh)",
  ignore: !available,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "dezero_nb_" });
    try {
      const child = new Deno.Command("bash", {
        args: [script.pathname, notebook.pathname, Deno.execPath()],
        env: { NB_CELL_TIMEOUT: "120", NB_OUT: `${out}/notebook.executed.ipynb` },
        stdout: "piped",
        stderr: "piped",
        // The first run on a fresh machine also installs Jupyter's Debian packages (apt).
        signal: AbortSignal.timeout(480_000),
      }).spawn();
      const { code, stdout, stderr } = await child.output();
      const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.equal(code, 0, `notebook-check.sh exited with ${code}:\n${text}`);
      assert.match(text, /notebook-check: OK/);
      // The training cell ran on the GPU or the CPU and reported its accuracy; the plot rendered.
      const executed = JSON.parse(await Deno.readTextFile(`${out}/notebook.executed.ipynb`));
      const outputs: { data?: Record<string, string | string[]> }[] = executed.cells.flatMap(
        (c: { outputs?: unknown[] }) => c.outputs ?? [],
      );
      // nbformat may store multi-line output as a list of lines.
      const mime = (o: { data?: Record<string, string | string[]> }, type: string): string => {
        const v = o.data?.[type];
        return Array.isArray(v) ? v.join("") : v ?? "";
      };
      const svg = outputs.some((o) => mime(o, "image/svg+xml").startsWith("<svg"));
      assert.ok(svg, "the loss curve cell displayed no SVG");
      const html = outputs.some((o) => mime(o, "text/html").includes("<table"));
      assert.ok(html, "no tensor displayed as an HTML table");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
