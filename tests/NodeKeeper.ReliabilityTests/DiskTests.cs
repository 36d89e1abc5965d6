using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace NodeKeeper.ReliabilityTests;

/// <summary>
/// Issue 7, disk trouble: app logs on a real tmpfs that fills up, and on a file system that cannot be written at all.
/// The app (examples/counter.js) reports its own count in a progress file outside the logs, so its progress is seen
/// without them. Runs as root (mount); every mount is undone, lazily if need be, and checked gone.
/// </summary>
public sealed partial class DiskTests(ITestOutputHelper output)
{
    private const int Pad = 80;

    [Fact]
    public async Task A_full_disk_drops_counted_lines_warns_once_never_stops_the_app_and_writing_resumes_with_space()
    {
        var clock = Stopwatch.StartNew();
        void Phase(string what) => output.WriteLine($"{clock.Elapsed.TotalSeconds:F1}s {what}");
        using var temp = new TempDir();
        await using var disk = await Tmpfs.MountAsync(Path.Combine(temp.Path, "disk"), "size=1m");
        var progress = Path.Combine(temp.Path, "progress");
        var outLog = Path.Combine(disk.Path, "c.out.log");
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("c", "counter.js",
            $"env = {{ PROGRESS_FILE = \"{progress}\", BURST = \"200\", TICK_MS = \"10\", PAD = \"{Pad}\" }}\n" +
            $"log = {{ out = \"{outLog}\", err = \"{Path.Combine(disk.Path, "c.err.log")}\", max_size = \"10M\" }}"));
        await home.OkAsync("start", config);
        Phase($"started, app at {Progress(progress)}");
        var daemon = home.DaemonPid();
        var pid = (await home.InstanceAsync("c")).Pid;
        pid.Should().NotBeNull();

        // The 1 MiB disk fills within a second at ~2 MB/s: from then on lines are dropped, and counted.
        await Eventually.Until(() => new DriveInfo(disk.Path).AvailableFreeSpace < 8192, TimeSpan.FromSeconds(20), "the disk to fill up");
        var atFull = Progress(progress);
        Phase($"disk full, app at {atFull}");
        // The app is never blocked by the disk: 40,000 more lines (2 s or more: several retries of the log) go out while it is full.
        await Eventually.Until(() => Task.FromResult(Progress(progress)), p => p >= atFull + 40_000, TimeSpan.FromSeconds(30), "the app's progress on the full disk");
        Phase($"app at {Progress(progress)}");
        var whileFull = await home.DescribeAsync("c");
        var c = whileFull.InstanceList.Single();
        (c.Status, c.Pid, c.Restarts).Should().Be(("online", pid, 0), "a full log disk must not stop, restart or block the app");
        (await home.RunAsync("ping")).Code.Should().Be(0, "the daemon keeps serving");
        home.DaemonPid().Should().Be(daemon);
        whileFull.LogProblem.Should().Contain($"cannot write {outLog}", "describe says why lines are dropped");
        var droppedWhileFull = whileFull.LogDroppedLines;
        droppedWhileFull.Should().BeGreaterThan(30_000, "what the app wrote on the full disk is counted as dropped");
        DaemonLog(home, $"Cannot write app log {outLog} (No space left on device)").Should().Be(1, "one warning per episode, however many retries fail");
        DaemonLog(home, $"Writing app log {outLog} again").Should().Be(0, "writing has not resumed: the disk is still full");
        new FileInfo(outLog).Length.Should().BeLessThanOrEqualTo(1024 * 1024);

        // Space comes back: the next retry (within a second) writes again, and newer lines reach the file.
        var beforeResume = Progress(progress);
        var maxBeforeResume = Count(outLog).Max;
        await disk.RemountAsync("size=64m");
        Phase($"space back, app at {beforeResume}");
        await Eventually.Until(() => Task.FromResult(Count(outLog).Max), max => max > beforeResume, TimeSpan.FromSeconds(15),
            $"lines numbered above {beforeResume} in the log once there is space");
        // The daemon says so once the flush that wrote them returns: a moment after they are in the file.
        await Eventually.Until(() => DaemonLog(home, $"Writing app log {outLog} again") > 0, TimeSpan.FromSeconds(10), "the notice that writing resumed");
        DaemonLog(home, $"Writing app log {outLog} again").Should().Be(1);
        DaemonLog(home, $"Cannot write app log {outLog}").Should().Be(1);

        // Every line the app wrote is either whole in the file or counted as dropped: never both, never neither.
        Phase("writing again");
        await home.OkAsync("stop", "c");
        var written = Progress(progress);
        var (file, dropped) = await Eventually.Until(async () => (Count(outLog), (await home.DescribeAsync("c")).LogDroppedLines),
            f => f.Item1.Whole + f.Item2 >= written, TimeSpan.FromSeconds(10), "the last lines to be written or counted");
        output.WriteLine($"app wrote {written} lines; in the file {file.Whole} whole lines (numbers 1..{file.Max}, {file.Fragments} cut line(s)); " +
            $"log_dropped_lines {dropped} ({droppedWhileFull} when checked on the full disk); highest line before the resume {maxBeforeResume}, " +
            $"app at {beforeResume} when space came back");
        file.Ordered.Should().BeTrue("the file holds each line once, in order");
        (file.Whole + dropped).Should().Be(written, $"{file.Whole} lines in the file + {dropped} dropped must be exactly the {written} the app wrote");
        file.Fragments.Should().BeLessThanOrEqualTo(1, "only the write that hit the full disk may leave a cut line (ended by a newline on reopening)");
        (await home.RunAsync("ping")).Code.Should().Be(0);
    }

    [Fact]
    public async Task A_log_path_that_cannot_be_written_is_one_clear_warning_and_every_app_keeps_running()
    {
        using var temp = new TempDir();
        await using var readOnly = await Tmpfs.MountAsync(Path.Combine(temp.Path, "ro"), "ro,size=1m");
        // Root ignores permission bits: a folder that is a regular file, and a read-only file system, stop even root.
        var blocker = Path.Combine(temp.Path, "blocker");
        await File.WriteAllTextAsync(blocker, "a file where the log folder should be\n");
        await using var home = new TestHome();
        string App(string name, string logs) => TestHome.App(name, "counter.js",
            $"env = {{ PROGRESS_FILE = \"{Path.Combine(temp.Path, name + ".progress")}\", BURST = \"20\", TICK_MS = \"10\", PAD = \"{Pad}\" }}\n" +
            (logs.Length == 0 ? "" : $"log = {{ out = \"{logs}/{name}.out.log\", err = \"{logs}/{name}.err.log\" }}"));
        var config = home.WriteConfig(App("good", "") + App("ro", readOnly.Path) + App("nodir", blocker));
        var roOut = Path.Combine(readOnly.Path, "ro.out.log");
        var nodirOut = Path.Combine(blocker, "nodir.out.log");

        // The decision: a log that cannot be written never keeps an app from running (the SPEC: a disk problem costs
        // dropped lines, never a blocked app). nk start succeeds; the reason is one line in daemon.log, the dropped
        // lines are counted in nk describe.
        var start = await home.RunAsync("start", config);
        output.WriteLine($"nk start: {start}");
        start.Code.Should().Be(0, start.ToString());
        var pids = (await home.StatusAsync()).ToDictionary(i => i.Name, i => i.Pid);
        pids.Values.Should().OnlyContain(p => p != null);
        var daemon = home.DaemonPid();

        await Eventually.Until(() => DaemonLog(home, "Cannot write app log ") >= 2, TimeSpan.FromSeconds(15), "warnings about both unwritable logs");
        var progressAt = pids.Keys.ToDictionary(n => n, n => Progress(Path.Combine(temp.Path, n + ".progress")));
        // Every app goes on (2,000 lines each, 1 s or more: a retry of each broken log included).
        await Eventually.Until(() => Task.FromResult(progressAt.All(p => Progress(Path.Combine(temp.Path, p.Key + ".progress")) >= p.Value + 2_000)),
            done => done, TimeSpan.FromSeconds(30), "every app's progress");
        foreach (var i in await home.StatusAsync())
            (i.Status, i.Pid, i.Restarts).Should().Be(("online", pids[i.Name], 0), $"{i.Name} keeps running");
        (await home.RunAsync("ping")).Code.Should().Be(0);
        home.DaemonPid().Should().Be(daemon);

        var roWarning = DaemonLogLines(home, $"Cannot write app log {roOut} (");
        var nodirWarning = DaemonLogLines(home, $"Cannot write app log {nodirOut} (");
        output.WriteLine($"daemon.log: {roWarning.FirstOrDefault()}\ndaemon.log: {nodirWarning.FirstOrDefault()}");
        roWarning.Should().ContainSingle().Which.Should().Contain("(Read-only file system)");
        nodirWarning.Should().ContainSingle().Which.Should().Contain($"({blocker} is a file, not a folder)");
        var good = await home.DescribeAsync("good");
        good.LogDroppedLines.Should().Be(0);
        Count(Path.Combine(home.Logs, "good.out.log")).Whole.Should().BeGreaterThan(2_000, "the other apps' logs are untouched");
        var ro = await home.DescribeAsync("ro");
        var nodir = await home.DescribeAsync("nodir");
        ro.LogDroppedLines.Should().BeGreaterThan(2_000);
        nodir.LogDroppedLines.Should().BeGreaterThan(2_000);
        output.WriteLine($"dropped lines: ro {ro.LogDroppedLines}, nodir {nodir.LogDroppedLines}, good {good.LogDroppedLines}");

        // The daemon still serves requests about the broken app, and writing starts once the file system can be written.
        await home.OkAsync("restart", "ro");
        (await home.InstanceAsync("ro")).Status.Should().Be("online");
        await readOnly.RemountAsync("rw,size=1m");
        await Eventually.Until(() => Task.FromResult(Count(roOut).Whole), n => n > 0, TimeSpan.FromSeconds(15), "ro's lines once its file system is writable");
        await Eventually.Until(() => DaemonLog(home, $"Writing app log {roOut} again") > 0, TimeSpan.FromSeconds(10), "the notice that writing resumed");
        DaemonLogLines(home, $"Writing app log {roOut} again").Should().ContainSingle();
        DaemonLogLines(home, $"Cannot write app log {roOut}").Should().ContainSingle("one warning for the whole episode, restart included");
    }

    // The app's own count of lines written (0 before its first report).
    private static long Progress(string file)
    {
        try { return long.Parse(File.ReadAllText(file).Trim(), CultureInfo.InvariantCulture); }
        catch (Exception ex) when (ex is IOException or FormatException) { return 0; }
    }

    private sealed record LogCount(long Whole, long Max, long Fragments, bool Ordered);

    // Whole "count N xxx…" lines of a log and its rotated files (oldest first), the highest N, the lines cut short.
    private static LogCount Count(string log)
    {
        var files = Enumerable.Range(1, 10).Select(i => $"{log}.{i}").Where(File.Exists).Reverse().Append(log).Where(File.Exists);
        long whole = 0, max = 0, fragments = 0;
        bool ordered = true;
        foreach (var file in files)
            foreach (var line in ReadLines(file))
            {
                var m = WholeLine().Match(line);
                if (!m.Success)
                {
                    fragments++;
                    continue;
                }
                var n = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                ordered &= n > max;
                max = Math.Max(max, n);
                whole++;
            }
        return new LogCount(whole, max, fragments, ordered);
    }

    [GeneratedRegex(@"^count (\d+) x{80}$")]
    private static partial Regex WholeLine();

    private static List<string> ReadLines(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line) lines.Add(line);
        return lines;
    }

    private static List<string> DaemonLogLines(TestHome home, string text) =>
        ReadLines(Path.Combine(home.Home, "daemon.log")).Where(l => l.Contains(text, StringComparison.Ordinal)).ToList();

    private static int DaemonLog(TestHome home, string text) => DaemonLogLines(home, text).Count;

    /// <summary>A folder of this test's own under /tmp, deleted at the end.</summary>
    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateDirectory(System.IO.Path.Combine("/tmp", "nk-disk-" + Guid.NewGuid().ToString("N")[..12])).FullName;

        public void Dispose()
        {
            try { Directory.Delete(Path, true); } catch (IOException) { }
        }
    }

    /// <summary>A tmpfs mounted on a fresh folder; disposing unmounts it (lazily if it is busy) and checks it is gone.</summary>
    private sealed class Tmpfs : IAsyncDisposable
    {
        private Tmpfs(string path) => Path = path;

        public string Path { get; }

        public static async Task<Tmpfs> MountAsync(string path, string options)
        {
            Directory.CreateDirectory(path);
            await RunAsync("mount", "-t", "tmpfs", "-o", options, "tmpfs", path);
            return new Tmpfs(path);
        }

        public Task RemountAsync(string options) => RunAsync("mount", "-o", "remount," + options, Path);

        public async ValueTask DisposeAsync()
        {
            if (Mounted(Path))
            {
                try { await RunAsync("umount", Path); }
                catch (InvalidOperationException) { await RunAsync("umount", "-l", Path); }
            }
            Mounted(Path).Should().BeFalse($"{Path} must be unmounted");
        }

        private static bool Mounted(string path) =>
            File.ReadLines("/proc/self/mounts").Any(l => l.Split(' ') is [_, var point, ..] && point == path);

        private static async Task RunAsync(string file, params string[] args)
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            _ = p.StandardOutput.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await p.WaitForExitAsync(cts.Token);
            if (p.ExitCode != 0)
                throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {(await stderr).Trim()} (these tests need root)");
        }
    }
}
