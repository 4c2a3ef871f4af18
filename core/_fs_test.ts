import { equal } from "node:assert/strict";
import { writeFileAtomic } from "./_fs.ts";

const bytes = new TextEncoder().encode("weights");
const mode = (path: string) => Deno.statSync(path).mode! & 0o777;

Deno.test({
  name: "writeFileAtomic() gives a new file the umask's mode and keeps an existing file's",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // A plain write gives 0o666 less the umask: the mode a new file should get.
      await Deno.writeFile(`${dir}/plain`, bytes);
      await writeFileAtomic(`${dir}/new`, bytes);
      equal(mode(`${dir}/new`).toString(8), mode(`${dir}/plain`).toString(8));
      // Overwriting keeps the file's own mode (not the temporary file's 0600).
      await Deno.writeFile(`${dir}/old`, bytes);
      await Deno.chmod(`${dir}/old`, 0o640);
      await writeFileAtomic(`${dir}/old`, bytes);
      equal(mode(`${dir}/old`).toString(8), "640");
      equal(await Deno.readTextFile(`${dir}/old`), "weights");
      equal([...Deno.readDirSync(dir)].length, 3, "no temporary file is left");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
