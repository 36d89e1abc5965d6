using System.CommandLine;
using System.Text.Json;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Rendering;

namespace NodeKeeper.Cli;

/// <summary>`nk profile` and `nk heap`: evidence captured now, from one instance of one app.</summary>
public static partial class NkCommands
{
    private static void AddCaptureCommands(Command root, Func<Option<bool>> json)
    {
        {
            var name = new Argument<string>("name") { Description = "the app" };
            var instance = new Option<int>("--instance") { Description = "the instance (default 0)" };
            var cpu = new Option<string>("--cpu") { Description = "a CPU profile this long (e.g. 10s; default 5s when --heap is not given)" };
            var heap = new Option<bool>("--heap") { Description = "a heap snapshot (the instance pauses while it is written)" };
            var j = json();
            var cmd = new Command("profile", "capture a CPU profile and/or a heap snapshot of an instance now (files for Chrome DevTools)") { name, instance, cpu, heap, j };
            cmd.SetAction((p, ct) => ProfileAsync(p.GetValue(name)!, p.GetValue(instance), p.GetValue(cpu), p.GetValue(heap), p.GetValue(j), ct));
            root.Subcommands.Add(cmd);
        }
        {
            var name = new Argument<string>("name") { Description = "the app" };
            var instance = new Option<int>("--instance") { Description = "the instance (default 0)" };
            var gap = new Option<string>("--gap") { Description = "the time between the two snapshots (default: the app's capture.heap_gap, 60s)" };
            var j = json();
            var cmd = new Command("heap", "take two heap snapshots of an instance and say which constructors grew between them") { name, instance, gap, j };
            cmd.SetAction((p, ct) => HeapAsync(p.GetValue(name)!, p.GetValue(instance), p.GetValue(gap), p.GetValue(j), ct));
            root.Subcommands.Add(cmd);
        }
    }

    private static async Task<int> ProfileAsync(string name, int instance, string? cpuText, bool heap, bool asJson, CancellationToken ct)
    {
        if (instance < 0) return await Error($"--instance must be 0 or more, got {instance}", Usage);
        long? cpuMs = null;
        if (cpuText is not null)
        {
            if (!Duration.TryParse(cpuText, out var cpu, out var why)) return await Error($"--cpu: {why}", Usage);
            if (cpu <= TimeSpan.Zero || cpu.TotalMilliseconds > 600_000) return await Error($"--cpu must be more than 0 and at most 10m, got \"{cpuText}\"", Usage);
            cpuMs = (long)cpu.TotalMilliseconds;
        }
        return await CaptureAsync(new Request { Cmd = Commands.Profile, Names = [name], Instance = instance, CpuMs = cpuMs, Heap = heap }, asJson, ct);
    }

    private static async Task<int> HeapAsync(string name, int instance, string? gapText, bool asJson, CancellationToken ct)
    {
        if (instance < 0) return await Error($"--instance must be 0 or more, got {instance}", Usage);
        long? gapMs = null;
        if (gapText is not null)
        {
            if (!Duration.TryParse(gapText, out var gap, out var why)) return await Error($"--gap: {why}", Usage);
            if (gap <= TimeSpan.Zero || gap > TimeSpan.FromHours(1)) return await Error($"--gap must be more than 0 and at most 1h, got \"{gapText}\"", Usage);
            gapMs = (long)gap.TotalMilliseconds;
        }
        return await CaptureAsync(new Request { Cmd = Commands.Heap, Names = [name], Instance = instance, GapMs = gapMs }, asJson, ct);
    }

    private static async Task<int> CaptureAsync(Request request, bool asJson, CancellationToken ct)
    {
        var (client, code) = await ConnectAsync(ct);
        if (client is null) return code;
        using var _ = client;
        var r = await SendAsync(client, request, ct);
        if (r is null) return Failed;
        var captures = r.Captures ?? [];
        if (asJson) Console.Out.Write(JsonSerializer.Serialize(r, ProtocolJson.Default.Response) + "\n");
        else Console.Out.Write(Render.Captures(captures, summaries: true));
        return Ok;
    }
}
