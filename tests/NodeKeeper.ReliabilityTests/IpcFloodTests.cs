using System.Diagnostics;
using System.Text.Json;
using NodeKeeper.Core.Protocol;
using Xunit.Abstractions;

namespace NodeKeeper.ReliabilityTests;

/// <summary>
/// An app that floods its IPC channel (the one its preload reports on) costs the daemon little: a bounded share of
/// one core, while the daemon answers on, hears the app's "ready" in the middle of the flood, and shows its metrics.
/// </summary>
public sealed class IpcFloodTests(ITestOutputHelper output)
{
    /// <summary>
    /// The daemon's share of one core while the app floods. The unbounded reader took 30–35 % even on a 2-core machine
    /// so busy (load 90–150) that the flooding app itself got 2–3 %; the bounded one takes about 5 % there.
    /// </summary>
    private const double MaxDaemonCpu = 0.15;
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan StatusDeadline = TimeSpan.FromSeconds(3);

    // Sends, as fast as its channel takes them: reports shaped like the preload's (every one a new heap figure, each
    // one more sample for the heap trend of a daemon that takes them all), messages of its own, now and then a 200 kB
    // line, junk; its "ready" comes after a second of that. The last send of each batch waits for its write, so the
    // app's own queue stays bounded and the next batch follows at once.
    private const string Flooder = """
        'use strict';
        let sent = 0, seconds = 0, rounds = 0;
        const own = { type: 'job', id: 0, payload: 'x'.repeat(200) };
        const long = { blob: 'y'.repeat(200000) };
        function batch() {
          for (let i = 0; i < 1000; i++) {
            process.send({ nk: 'metrics', heap_used: 40e6 + sent, heap_total: 60e6, heap_limit: 2e9,
              lag_p50: 0, lag_p99: 0, lag_max: 0, handles: 3 });
            process.send(i % 2 ? own : 'not ready');
            sent += 2;
          }
          if (rounds++ % 20 === 0) { process.send(long); sent++; }
          process.send([1, 2, { nk: 'metrics' }]);
          sent++;
          process.send({ nk: 'metrics', heap_used: 'junk' }, () => setImmediate(batch));
          sent++;
        }
        setTimeout(() => process.send('ready'), 1000);
        setInterval(() => console.log(`flooding for ${++seconds} s: ${sent} messages`), 1000);
        batch();
        """;

    [Fact]
    public async Task An_app_flooding_its_ipc_channel_costs_the_daemon_a_bounded_share_of_a_core_and_it_answers_on()
    {
        await using var home = new TestHome();
        var script = Path.Combine(home.Configs, "flood.js");
        File.WriteAllText(script, Flooder);
        var config = home.WriteConfig($"[[app]]\nname = \"flood\"\nscript = \"{script}\"\nready = \"message\"\n");
        await home.OkAsync("start", config);
        var daemon = home.DaemonPid()!.Value;

        // Online only once the daemon heard "ready" among the flood. Measured after 15 s of flooding: what the daemon
        // keeps of the reports it took (the heap trend) has grown by then.
        await home.WaitForAsync("flood", i => i.Status == "online", "online after its ready message", seconds: 30);
        await home.WaitForLogAsync("flood", "flooding for 15 s", seconds: 45);
        var sentBefore = SentSoFar(home);

        var cpuBefore = CpuTicks(daemon);
        var appBefore = CpuTicks((await home.InstanceAsync("flood")).Pid!.Value);
        var clock = Stopwatch.StartNew();
        var slowest = TimeSpan.Zero;
        InstanceInfo? seen = null;
        using (var conn = await SocketAbuseTests.Raw.ConnectAsync(home.Home))
        {
            var id = 0;
            while (clock.Elapsed < Window)
            {
                var asked = Stopwatch.StartNew();
                await conn.SendAsync($"{{\"id\":{++id},\"cmd\":\"status\"}}\n");
                var line = await conn.ReadLineAsync(StatusDeadline);
                asked.Stop();
                if (asked.Elapsed > slowest) slowest = asked.Elapsed;
                var answer = JsonSerializer.Deserialize(line!, ProtocolJson.Default.Response)!;
                answer.Ok.Should().BeTrue(line);
                seen = answer.Instances!.Single(i => i.Name == "flood");
                await Task.Delay(250);
            }
        }
        var elapsed = clock.Elapsed;
        var cpu = (CpuTicks(daemon) - cpuBefore) / 100.0 / elapsed.TotalSeconds;
        var appCpu = (CpuTicks(seen!.Pid!.Value) - appBefore) / 100.0 / elapsed.TotalSeconds;
        var sent = SentSoFar(home) - sentBefore;
        output.WriteLine($"daemon CPU {cpu:P1} of one core over {elapsed.TotalSeconds:F1} s; the app sent about {sent} messages meanwhile (its CPU {appCpu:P0}); "
            + $"slowest status answer {slowest.TotalMilliseconds:F0} ms");
        output.WriteLine($"last status row: status {seen!.Status}, pid {seen.Pid}, memory {seen.MemoryBytes}, heap {seen.HeapUsedBytes}, "
            + $"lag p99 {seen.EventLoopLagMs}, handles {seen.ActiveHandles}, warnings {string.Join("; ", seen.Warnings ?? [])}");

        sent.Should().BeGreaterThan(10_000, "the app really flooded its channel during the window");
        cpu.Should().BeLessThan(MaxDaemonCpu, "what an app's messages cost the daemon is bounded");
        seen.Status.Should().Be("online");
        seen.MemoryBytes.Should().BeGreaterThan(0, "the sampler still measures the app");
        seen.HeapUsedBytes.Should().BeGreaterThan(0, "the reports still come through");
        (seen.Warnings ?? []).Should().NotContain(w => w.Contains("stalled"), "a report arrives every interval");
        var alive = await home.InstanceAsync("flood");
        alive.Pid.Should().Be(seen.Pid, "the app ran throughout");
    }

    /// <summary>The app's own count of messages sent, from the latest line of its log.</summary>
    private static long SentSoFar(TestHome home)
    {
        var lines = File.ReadAllLines(Path.Combine(home.Logs, "flood.out.log")).Where(l => l.Contains("flooding for ")).ToList();
        var text = lines[^1][(lines[^1].IndexOf(" s: ") + 4)..];
        return long.Parse(text[..text.IndexOf(' ')]);
    }

    /// <summary>utime + stime of a process, in clock ticks (100 per second on Linux).</summary>
    private static long CpuTicks(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11]) + long.Parse(fields[12]);
    }
}
