using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// `watch` / `ignore_watch`: a change under a watched path restarts the app (debounced; one instance at a time, so
/// an app with several instances or a shared port keeps serving), reason `watch`. node_modules and .git are never
/// watched. When the kernel's inotify limits are reached the app keeps running: status and `nk why` say so, with
/// the sysctl to raise.
/// </summary>
public sealed class FileWatchService(Supervisor supervisor, DaemonContext ctx) : FollowingApps(ctx)
{
    public static readonly TimeSpan Debounce = AppDefaults.WatchQuiet;
    private readonly Dictionary<AppRuntime, AppWatch> _watches = [];

    protected override void Release()
    {
        foreach (var w in _watches.Values) w.Dispose();
    }

    /// <summary>Watchers follow the apps: one set per app that is meant to run and watches something.</summary>
    protected override void Reconcile(CancellationToken ct)
    {
        var wanted = supervisor.Apps.Where(a => a.Wanted && a.Spec.Watch.Count > 0).ToList();
        foreach (var (app, w) in _watches.ToList())
            if (!wanted.Contains(app) || !w.Matches(app.Spec))
            {
                w.Dispose();
                _watches.Remove(app);
                app.WatchProblem = null;
            }
        foreach (var app in wanted.Where(a => !_watches.ContainsKey(a)))
            _watches[app] = new AppWatch(app, Ctx, ct);
    }

    private sealed class AppWatch : IDisposable
    {
        private readonly AppRuntime _app;
        private readonly DaemonContext _ctx;
        private readonly CancellationToken _ct;
        private readonly List<FileSystemWatcher> _watchers = [];
        private readonly IReadOnlyList<string> _paths;
        private readonly IReadOnlyList<string> _ignore;
        private readonly Lock _lock = new();
        private string? _firstChange;
        private Timer? _timer;
        private Task _restarting = Task.CompletedTask;

        public AppWatch(AppRuntime app, DaemonContext ctx, CancellationToken ct)
        {
            _app = app;
            _ctx = ctx;
            _ct = ct;
            _paths = app.Spec.Watch;
            _ignore = app.Spec.IgnoreWatch;
            foreach (var path in _paths)
            {
                try
                {
                    var directory = Directory.Exists(path);
                    var w = new FileSystemWatcher(directory ? path : Path.GetDirectoryName(path)!)
                    {
                        IncludeSubdirectories = directory,
                        Filter = directory ? "*" : Path.GetFileName(path),
                        NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
                    };
                    w.Changed += (_, e) => OnEvent(e.FullPath);
                    w.Created += (_, e) => OnEvent(e.FullPath);
                    w.Deleted += (_, e) => OnEvent(e.FullPath);
                    w.Renamed += (_, e) => OnEvent(e.FullPath);
                    w.Error += (_, e) => Problem(e.GetException());
                    w.EnableRaisingEvents = true;
                    _watchers.Add(w);
                }
                catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
                {
                    Problem(ex);
                }
            }
        }

        public bool Matches(Core.Config.AppSpec spec) => spec.Watch.SequenceEqual(_paths) && spec.IgnoreWatch.SequenceEqual(_ignore);

        private void Problem(Exception ex)
        {
            var limit = ex.Message.Contains("inotify", StringComparison.OrdinalIgnoreCase) || ex.Message.Contains("limit", StringComparison.OrdinalIgnoreCase);
            _app.WatchProblem = limit
                ? $"{Core.Diagnosis.Why.WatchOff}: the kernel's inotify limit was reached ({ex.Message.TrimEnd('.')}); raise it with sysctl fs.inotify.max_user_watches=524288 and fs.inotify.max_user_instances=512 (the app keeps running)"
                : $"{Core.Diagnosis.Why.WatchOff}: {ex.Message}";
            _ctx.Logger.LogWarning("{App}: {Problem}", _app.Name, _app.WatchProblem);
        }

        private void OnEvent(string fullPath)
        {
            if (Ignored(fullPath)) return;
            lock (_lock)
            {
                _firstChange ??= fullPath;
                _timer ??= new Timer(_ => Fire(), null, Timeout.Infinite, Timeout.Infinite);
                _timer.Change(Debounce, Timeout.InfiniteTimeSpan);
            }
        }

        /// <summary>node_modules and .git are never watched; ignore_watch globs match a path below the watched one, or a file name.</summary>
        private bool Ignored(string fullPath)
        {
            var parts = fullPath.Split('/');
            if (parts.Contains("node_modules") || parts.Contains(".git")) return true;
            var name = parts[^1];
            foreach (var root in _paths)
            {
                if (!fullPath.StartsWith(root.TrimEnd('/') + "/", StringComparison.Ordinal)) continue;
                var relative = fullPath[(root.TrimEnd('/').Length + 1)..];
                if (_ignore.Any(g => Glob.Matches(g, relative) || Glob.Matches(g, name))) return true;
            }
            return _ignore.Any(g => Glob.Matches(g, name) || Glob.Matches(g, fullPath));
        }

        private void Fire()
        {
            string? changed;
            lock (_lock) { changed = _firstChange; _firstChange = null; }
            if (changed is null || !_restarting.IsCompleted || _ct.IsCancellationRequested) return;
            _ctx.Logger.LogInformation("{App}: {Path} changed: restarting", _app.Name, changed);
            _restarting = Supervisor.RollingRestartAsync(_app, Restart, _ct);
        }

        /// <summary>Restarts an instance that runs or is about to (in backoff, its own coming start takes the change).</summary>
        private static bool Restart(InstanceRunner i)
        {
            if (i.State.Status is not (InstanceStatus.Online or InstanceStatus.Starting or InstanceStatus.Backoff)) return false;
            i.Post(new RestartRequested(ExitReasons.Watch));
            return true;
        }

        public void Dispose()
        {
            lock (_lock) { _timer?.Dispose(); _timer = null; }
            foreach (var w in _watchers) w.Dispose();
        }
    }
}
