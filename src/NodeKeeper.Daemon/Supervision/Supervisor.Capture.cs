using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>`nk profile` and `nk heap`: evidence captured now, and the captures nk describe and nk why read.</summary>
public sealed partial class Supervisor
{
    /// <summary>The longest CPU profile asked for: ten minutes.</summary>
    public const long MaxCpuMs = 600_000;

    /// <summary>
    /// `nk profile APP [--instance N] [--cpu DURATION] [--heap]`: a CPU profile of that length and/or a heap snapshot of
    /// the instance, now; answered with the captures and what they say. It waits for neither the supervisor's gate nor
    /// other apps: a capture changes nothing the supervisor keeps.
    /// </summary>
    public async Task<Response> ProfileAsync(int id, AppRuntime app, int index, long? cpuMs, bool heap, CancellationToken ct)
    {
        if (Capturable(app, index, out var runner) is { } refusal) return Response.Fail(id, refusal);
        if (cpuMs is null && !heap) cpuMs = 5000;
        var captures = new List<CaptureInfo>();
        if (cpuMs is { } ms)
        {
            var notice = await runner!.CaptureAsync("cpu", ms, ct);
            if (notice.Error is { } error) return Response.Fail(id, $"{app.Name}:{index}: the CPU profile failed: {error}");
            ctx.Captures.Enforce(app.Name, app.Spec.Capture);
            captures.Add(Captured(app, notice.File!));
        }
        if (heap)
        {
            if (runner!.Report is { } r && runner.HeapSnapshotRefusal(r.HeapUsed, automatic: false) is { } no)
                return Response.Fail(id, $"{app.Name}:{index}: no heap snapshot: {no}");
            var notice = await runner.CaptureAsync("heap", 0, ct);
            if (notice.Error is { } error) return Response.Fail(id, $"{app.Name}:{index}: the heap snapshot failed: {error}");
            ctx.Captures.Enforce(app.Name, app.Spec.Capture);
            captures.Add(Captured(app, notice.File!));
        }
        return new Response { Id = id, Ok = true, Captures = captures };
    }

    /// <summary>`nk heap APP [--instance N] [--gap DURATION]`: two heap snapshots that far apart, and which constructors grew.</summary>
    public async Task<Response> HeapAsync(int id, AppRuntime app, int index, TimeSpan? gap, CancellationToken ct)
    {
        if (Capturable(app, index, out var runner) is { } refusal) return Response.Fail(id, refusal);
        if (runner!.Report is { } r && runner.HeapSnapshotRefusal(r.HeapUsed, automatic: false) is { } no)
            return Response.Fail(id, $"{app.Name}:{index}: no heap snapshot: {no}");
        var (growth, error) = await runner.CompareHeapAsync(gap ?? app.Spec.Capture.HeapGap, ct);
        return growth is null ? Response.Fail(id, $"{app.Name}:{index}: {error}") : new Response { Id = id, Ok = true, Captures = [growth] };
    }

    /// <summary>Why instance <paramref name="index"/> of the app cannot be captured now (one line); null when it can.</summary>
    private static string? Capturable(AppRuntime app, int index, out InstanceRunner? runner)
    {
        runner = app.Instances.FirstOrDefault(i => i.Index == index);
        if (!app.Spec.Node)
            return $"{app.Name} {Programs.Runs(app.Spec.Interpreter)}: CPU profiles and heap snapshots are taken by node's preload, so only of node apps";
        if (app.Spec.User is { } user)
            return $"{app.Name} runs as user {user}: NodeKeeper captures no evidence of apps run as another user (they cannot write into the daemon's home)";
        if (runner is null) return $"{app.Name} has no instance {index} (it has {app.Instances.Count})";
        if (runner.Process is null || !runner.State.HasProcess) return $"{app.Name}:{index} is not running (status {runner.State.Status.Wire()})";
        if (!runner.HasIpc) return $"{app.Name}:{index} has no IPC channel to its preload: it cannot be asked for a capture";
        return null;
    }

    /// <summary>A capture the preload just wrote, with what it says.</summary>
    private CaptureInfo Captured(AppRuntime app, string file)
    {
        var path = Path.Combine(ctx.Captures.FolderOf(app.Name), file);
        var found = ctx.Captures.List(app.Name).FirstOrDefault(c => c.Files.Contains(path));
        return found is null
            ? new CaptureInfo("unknown", -1, 0, ctx.Clock.GetUtcNow(), [path], 0) { Problem = $"removed at once by the app's caps (capture.keep = {app.Spec.Capture.Keep}, capture.max_size = {app.Spec.Capture.MaxSize / (1024 * 1024)}M)" }
            : ctx.Evidence.Describe(found, app.Spec.Cwd);
    }

    /// <summary>The app's captures, newest first, each with what it says.</summary>
    public IReadOnlyList<CaptureInfo> Captures(AppRuntime app) =>
        ctx.Captures.List(app.Name).Select(c => ctx.Evidence.Describe(c, app.Spec.Cwd)).ToList();
}
