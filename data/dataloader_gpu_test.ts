import { assertEquals } from "./_test_util.ts";
import { memoryStats } from "../core/mod.ts";
import { gpuTest } from "../shaders/test_util.ts";
import { DataLoader } from "./dataloader.ts";
import { Spiral } from "./datasets.ts";

gpuTest(
  "DataLoader on the GPU gives the CPU batches, holding one batch of memory at a time",
  async () => {
    const cpu = [...new DataLoader(new Spiral(), 64, { seed: 3 }).samples()];
    const loader = new DataLoader(new Spiral(), 64, { seed: 3, device: "gpu" });
    const base = memoryStats().gpuLiveBytes;
    const live: number[] = [];
    let k = 0;
    for (const [x, t] of loader) {
      assertEquals([x.device, t.device, x.dtype, t.dtype], ["gpu", "gpu", "float32", "int32"]);
      assertEquals(Array.from(await x.data()), Array.from(cpu[k][0].data));
      assertEquals(Array.from(await t.data()), Array.from(cpu[k][1].data));
      live.push(memoryStats().gpuLiveBytes);
      k++;
    }
    assertEquals(k, 5);
    // Full batches hold the same memory (older ones were released); the smaller last one less.
    assertEquals(live.slice(0, 4), [live[0], live[0], live[0], live[0]]);
    assertEquals(live[0] > base && live[4] > base && live[4] < live[0], true);
    // The end of the epoch releases the last batch.
    assertEquals(memoryStats().gpuLiveBytes, base);
  },
);
