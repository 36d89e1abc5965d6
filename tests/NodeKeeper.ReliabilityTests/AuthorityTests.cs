using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using Xunit.Abstractions;

namespace NodeKeeper.ReliabilityTests;

/// <summary>
/// Who may control a daemon and where it may live: another uid is refused (and cannot act), a loose home is
/// tightened, a linked or foreign home is refused, env values never leave the app, app names never leave the log
/// folder, and no shell ever interprets a config value. Kept as one file (over 400 lines): each case is one side of
/// one question, what another uid or a planted path can make the daemon do, and they share the setpriv helpers.
/// </summary>
public sealed class AuthorityTests(ITestOutputHelper output)
{
    private const UnixFileMode Rwx = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode All = Rwx | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
    private static readonly string[] Nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    // File permissions bypassed (CAP_DAC_OVERRIDE): only the daemon's peer check stands in the way.
    private static readonly string[] CapableNobody = [.. Nobody, "--inh-caps=+dac_override", "--ambient-caps=+dac_override"];

    [Fact]
    public async Task A_refused_peer_gets_one_line_then_a_closed_connection_cannot_act_and_root_is_served_on()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js"));
        await home.OkAsync("start", config);
        var daemon = home.DaemonPid()!.Value;
        var app = await home.InstanceAsync("w");
        using var rootConn = await SocketAbuseTests.Raw.ConnectAsync(home.Home); // opened before the refused peers

        // Raw clients as uid 65534: one only listens, one sends ping, kill and stop at once; both read until the daemon hangs up.
        var script = Path.Combine(home.Configs, "peer.js");
        File.WriteAllText(script, """
            const net = require('net');
            const s = net.createConnection(process.argv[2]);
            let data = '', err = null;
            if (process.argv[3] === 'write')
              s.on('connect', () => s.write('{"id":1,"cmd":"ping"}\n{"id":2,"cmd":"kill"}\n{"id":3,"cmd":"stop","names":["all"]}\n'));
            s.on('data', d => { data += d; });
            s.on('error', e => { err = e.code; });
            s.on('close', () => { console.log(JSON.stringify({ data, err })); process.exit(0); });
            setTimeout(() => { console.log(JSON.stringify({ data, err: 'still open after 5s' })); process.exit(0); }, 5000);
            """);
        foreach (var mode in new[] { "read", "write" })
        {
            var peer = await home.RunWithAsync([.. CapableNobody, "node", script, Path.Combine(home.Home, "nk.sock"), mode], TimeSpan.FromSeconds(15));
            peer.Code.Should().Be(0, peer.ToString());
            var seen = JsonDocument.Parse(peer.Out).RootElement;
            output.WriteLine($"refused raw peer ({mode}) saw: {seen}");
            var lines = seen.GetProperty("data").GetString()!.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var err = seen.GetProperty("err");
            // Closed by the daemon: a clean end, or a reset/broken pipe because the peer's requests were never read.
            (err.ValueKind == JsonValueKind.Null || err.GetString() is "ECONNRESET" or "EPIPE").Should().BeTrue($"the daemon hangs up on a refused peer, got {err}");
            // A peer that only listens always gets the refusal; one whose write races the hang-up may see only the broken pipe.
            if (mode == "read" || lines.Length > 0)
            {
                lines.Should().ContainSingle("the daemon answers one refusal and nothing more");
                var refusal = JsonSerializer.Deserialize(lines[0], ProtocolJson.Default.Response)!;
                refusal.Ok.Should().BeFalse();
                refusal.Error.Should().Be("uid 65534 may not control this daemon (it belongs to uid 0)");
            }
        }

        // The CLI as that uid, destructive commands: one line each, exit 1. Root's group is not enough either. The CLI
        // refuses on its own, before connecting (the home is not its user's); the daemon's refusal is the one above.
        var gidRoot = new[] { "setpriv", "--reuid=65534", "--regid=0", "--clear-groups", "--inh-caps=+dac_override", "--ambient-caps=+dac_override" };
        foreach (var (prefix, args) in new (string[], string[])[]
                 { (CapableNobody, ["kill"]), (CapableNobody, ["stop", "all"]), (CapableNobody, ["delete", "w"]), (gidRoot, ["kill"]) })
        {
            var r = await home.RunAsUserAsync(prefix, args);
            r.Code.Should().Be(1, r.ToString());
            r.Err.TrimEnd('\n').Should().Be($"nk: NODEKEEPER_HOME {home.Home} belongs to another user (not uid 65534): refusing to use it; another user's home is never used",
                $"nk {string.Join(' ', args)}: one clear line");
        }

        // Nothing happened, and root is served on: the connection opened before, new ones, the CLI.
        await rootConn.SendAsync("{\"id\":1,\"cmd\":\"ping\"}\n");
        (await rootConn.ReadLineAsync(TimeSpan.FromSeconds(5))).Should().Contain("\"ok\":true");
        (await SocketAbuseTests.Raw.PingAsync(home.Home, TimeSpan.FromSeconds(5))).Should().Contain("\"ok\":true");
        var now = await home.InstanceAsync("w");
        now.Status.Should().Be("online");
        now.Pid.Should().Be(app.Pid, "neither stop nor delete nor kill was carried out");
        now.Restarts.Should().Be(0);
        home.DaemonPid().Should().Be(daemon);
        var log = File.ReadAllText(Path.Combine(home.Home, "daemon.log"));
        Regex.Matches(log, "refused a control connection from uid 65534").Count.Should().Be(2, "each refused raw peer is logged; the CLI did not even connect");
        await home.OkAsync("stop", "w");
        (await home.InstanceAsync("w")).Status.Should().Be("stopped", "root's own stop still works");
    }

    [Fact]
    public async Task A_loose_home_logs_folder_and_stale_socket_are_tightened_and_said_so_in_daemon_log()
    {
        await using var home = new TestHome();
        Directory.CreateDirectory(home.Logs);
        File.SetUnixFileMode(home.Home, All);
        File.SetUnixFileMode(home.Logs, All);
        var sock = Path.Combine(home.Home, "nk.sock");
        File.WriteAllText(sock, "a stale regular file where the socket goes\n");
        File.SetUnixFileMode(sock, All);

        var r = await home.RunAsync("status");
        r.Code.Should().Be(0, r.ToString());

        File.GetUnixFileMode(home.Home).Should().Be(Rwx, "the home is made 0700");
        File.GetUnixFileMode(sock).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite, "the socket is 0600");
        (File.GetUnixFileMode(home.Logs) & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)).Should().Be(UnixFileMode.None, "nobody else may write into logs/");
        (await SocketAbuseTests.Raw.PingAsync(home.Home, TimeSpan.FromSeconds(5))).Should().Contain("\"ok\":true", "a real socket replaced the stale file");
        var log = File.ReadAllText(Path.Combine(home.Home, "daemon.log"));
        output.WriteLine(log);
        log.Should().Contain($"NODEKEEPER_HOME {home.Home} had mode 0777: tightened to 0700");
        log.Should().Contain($"{home.Logs} had mode 0777: tightened to 0755");
        log.Should().Contain($"removed a stale {sock}");
        Directory.GetFiles(home.Home, "daemon*.log").Select(f => File.GetUnixFileMode(f) & (UnixFileMode.OtherWrite | UnixFileMode.GroupWrite))
            .Should().OnlyContain(m => m == UnixFileMode.None);
    }

    [Fact]
    public async Task A_home_that_is_a_link_another_users_or_an_open_one_with_planted_links_is_refused_and_left_untouched()
    {
        var cases = new List<(TestHome Home, string Expect, Func<bool> Untouched, Action Cleanup)>();
        try
        {
            // 1. A symbolic link to a directory of our own elsewhere.
            var linked = new TestHome();
            var target = linked.Home + "-target";
            Directory.CreateDirectory(target);
            File.SetUnixFileMode(target, All);
            Directory.CreateSymbolicLink(linked.Home, target);
            cases.Add((linked, $"NODEKEEPER_HOME {linked.Home} is a symbolic link (to {target}): refusing",
                () => Directory.GetFileSystemEntries(target).Length == 0 && File.GetUnixFileMode(target) == All,
                () => { new FileInfo(linked.Home).Delete(); Directory.Delete(target, true); }));

            // 2. A fresh directory of another user (nobody).
            var foreign = new TestHome();
            Directory.CreateDirectory(foreign.Home);
            File.SetUnixFileMode(foreign.Home, Rwx);
            (await foreign.RunWithAsync(["chown", "65534:65534", foreign.Home], TimeSpan.FromSeconds(10))).Code.Should().Be(0);
            cases.Add((foreign, $"NODEKEEPER_HOME {foreign.Home} belongs to another user (not uid 0): refusing",
                () => Directory.GetFileSystemEntries(foreign.Home).Length == 0 && File.GetUnixFileMode(foreign.Home) == Rwx, () => { }));

            // 3. A home of our own but writable by all, where someone planted daemon.log as a link to a file of ours. (Its
            //    contents stay untouched; the daemon makes the home itself 0700 before it checks them, see below.)
            var planted = new TestHome();
            Directory.CreateDirectory(planted.Home);
            File.SetUnixFileMode(planted.Home, All);
            var victim = planted.Home + "-victim.txt";
            File.WriteAllText(victim, "untouched\n");
            File.CreateSymbolicLink(Path.Combine(planted.Home, "daemon.log"), victim);
            cases.Add((planted, $"NODEKEEPER_HOME {planted.Home} is writable by others (mode 0777) and holds links or files of other users",
                () => File.ReadAllText(victim) == "untouched\n" && Directory.GetFileSystemEntries(planted.Home).Length == 1,
                () => File.Delete(victim)));

            foreach (var (home, expect, untouched, _) in cases)
            {
                // The CLI refuses before it starts anything...
                var status = await home.RunAsync("status");
                output.WriteLine($"nk status: {status}");
                status.Code.Should().Be(1, status.ToString());
                status.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle()
                    .Which.Should().StartWith("nk: " + expect);
                // ...and so does the daemon itself, run in the foreground.
                var daemon = await home.RunWithAsync([Repo.Nk, "daemon"], TimeSpan.FromSeconds(15));
                daemon.Code.Should().Be(1, daemon.ToString());
                daemon.Err.Should().StartWith("nk: " + expect);
                Procs.OwnedBy(home.Home).Should().BeEmpty("no daemon runs for a refused home");
                untouched().Should().BeTrue($"{home.Home} is left as it was");
            }
        }
        finally
        {
            foreach (var (home, _, _, cleanup) in cases)
            {
                try { cleanup(); } catch (IOException) { }
                await home.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Issue 13 (12): a home open to others was checked for planted links before it was tightened, so a link planted
    /// between the check and the chmod was used. The daemon now makes it 0700 first (nobody else can then add
    /// anything) and checks after: a planted link is still refused, and the home is private from then on.
    /// </summary>
    [Fact]
    public async Task An_open_home_is_tightened_before_it_is_checked()
    {
        await using var home = new TestHome();
        Directory.CreateDirectory(home.Home);
        File.SetUnixFileMode(home.Home, All);
        var victim = home.Home + "-victim.txt";
        File.WriteAllText(victim, "untouched\n");
        File.CreateSymbolicLink(Path.Combine(home.Home, "daemon.log"), victim);
        try
        {
            var daemon = await home.RunWithAsync([Repo.Nk, "daemon"], TimeSpan.FromSeconds(15));

            daemon.Code.Should().Be(1, daemon.ToString());
            daemon.Err.Should().StartWith($"nk: NODEKEEPER_HOME {home.Home} is writable by others (mode 0777) and holds links or files of other users")
                .And.Contain("(the home is now 0700)");
            File.GetUnixFileMode(home.Home).Should().Be(Rwx, "the home was made private before its contents were checked");
            File.ReadAllText(victim).Should().Be("untouched\n");
        }
        finally { File.Delete(victim); }
    }

    /// <summary>
    /// Issue 13 (7): the CLI trusted any socket at $NODEKEEPER_HOME/nk.sock. A listener of uid 65534 there got root's
    /// `nk start`, env values included. Both clients (nk's fast path and nk-full) now check, before they send a byte,
    /// that the home is root's own (HomeGuard, before connecting) and that the socket is served by root (SO_PEERCRED).
    /// </summary>
    [Fact]
    public async Task Root_sends_nothing_to_a_listener_of_another_uid_nor_into_another_users_home()
    {
        var g = Guid.NewGuid().ToString("N");
        // 1. A home of root's own (0700) where a listener of uid 65534 got its socket anyway (here by CAP_DAC_OVERRIDE;
        //    in life, say, by swapping a parent folder it owns between the client's home check and its connect).
        await using (var home = new TestHome())
        {
            Directory.CreateDirectory(home.Home);
            File.SetUnixFileMode(home.Home, Rwx);
            var sock = Path.Combine(home.Home, "nk.sock");
            await AssertNothingSentAsync(home, CapableNobody, g,
                $"nk: refusing to talk to {sock}: it is served by uid 65534, expected uid 0; nothing was sent, as another user's daemon is never trusted",
                connects: true);
        }
        // 2. A home of uid 65534 with its daemon (a listener) in it: refused before connecting at all.
        await using (var home = new TestHome())
        {
            Directory.CreateDirectory(home.Home);
            File.SetUnixFileMode(home.Home, Rwx);
            (await home.RunWithAsync(["chown", "65534:65534", home.Home], TimeSpan.FromSeconds(10))).Code.Should().Be(0);
            await AssertNothingSentAsync(home, Nobody, g,
                $"nk: NODEKEEPER_HOME {home.Home} belongs to another user (not uid 0): refusing to use it; another user's home is never used",
                connects: false);
        }
    }

    /// <summary>
    /// Runs a listener as another uid on the home's socket, which records what each connection sent (and hangs up once
    /// something came, so that a client that did send is not kept waiting); root's nk, fast path and nk-full, must
    /// refuse with the one line and exit 1, and the listener must receive no byte.
    /// </summary>
    private async Task AssertNothingSentAsync(TestHome home, string[] asUser, string g, string refusal, bool connects)
    {
        var sock = Path.Combine(home.Home, "nk.sock");
        var script = Path.Combine(home.Configs, "listener.js");
        File.WriteAllText(script, """
            const net = require('net');
            let n = 0;
            const server = net.createServer(c => {
              const id = ++n; let bytes = 0, text = '';
              console.log(JSON.stringify({ accepted: id }));
              c.on('data', d => { bytes += d.length; text += d.toString('latin1'); c.end(); });
              c.on('error', () => {});
              c.on('close', () => console.log(JSON.stringify({ closed: id, bytes, text })));
            });
            server.listen(process.argv[2], () => console.log(JSON.stringify({ listening: true })));
            """);
        File.WriteAllText(Path.Combine(home.Configs, "secret.env"), $"FILE_SECRET=f1l3-{g}\n");
        var config = home.WriteConfig(TestHome.App("w", "worker.js", $"env = {{ SECRET = \"s3cr3t-{g}\" }}\nenv_file = \"secret.env\""));

        var seen = new System.Collections.Concurrent.ConcurrentQueue<JsonElement>();
        // A raw Process: the listener runs beside the test, which reads what it reports as it comes.
        var psi = new ProcessStartInfo(asUser[0]) { RedirectStandardOutput = true, UseShellExecute = false, WorkingDirectory = "/" };
        foreach (var a in asUser.Skip(1).Concat(["node", script, sock])) psi.ArgumentList.Add(a);
        using var listener = Process.Start(psi)!;
        listener.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } l) seen.Enqueue(JsonDocument.Parse(l).RootElement.Clone()); };
        listener.BeginOutputReadLine();
        try
        {
            await Eventually.Until(() => seen.Any(e => e.TryGetProperty("listening", out _)), TimeSpan.FromSeconds(10), "the listener to listen");
            File.ReadAllLines($"/proc/{listener.Id}/status").Single(l => l.StartsWith("Uid:")).Should().Contain("65534");

            foreach (var args in new string[][] { ["status"], ["status", "--json"], ["ping"], ["start", config], ["stop", "all"], ["kill"] })
            {
                var r = await home.RunAsync(args);
                output.WriteLine($"nk {string.Join(' ', args)}: {r}");
                r.Code.Should().Be(1, $"nk {string.Join(' ', args)}: {r}");
                r.Out.Should().BeEmpty();
                r.Err.TrimEnd('\n').Should().Be(refusal, $"nk {string.Join(' ', args)}: one clear line");
            }
            // Together with `nk version`, which says nothing of a daemon it does not trust.
            var version = await home.RunAsync("version");
            version.Code.Should().Be(0, version.ToString());
            version.Out.Should().NotContain("daemon");

            // A last connection of the test's own: the listener takes connections in order, so once it has this one,
            // it has had every connection of the commands above; then each one's close says what it received.
            using (var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
            {
                await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(sock));
                await s.SendAsync("sentinel\n"u8.ToArray());
            }
            await Eventually.Until(() => seen.Any(e => e.TryGetProperty("text", out var t) && t.GetString() == "sentinel\n")
                && seen.Count(e => e.TryGetProperty("accepted", out _)) == seen.Count(e => e.TryGetProperty("closed", out _)),
                TimeSpan.FromSeconds(10), "every connection to the listener to close");
            var closed = seen.Where(e => e.TryGetProperty("closed", out _) && e.GetProperty("text").GetString() != "sentinel\n").ToList();
            output.WriteLine($"the listener saw {closed.Count} connection(s) of nk: {string.Join(", ", closed)}");
            closed.Where(e => e.GetProperty("bytes").GetInt32() != 0).Should().BeEmpty("not one byte is sent to a listener that is not to be trusted");
            if (connects) closed.Should().NotBeEmpty("nk did reach this listener: the check after connecting is what refused it");
            else closed.Should().BeEmpty("another user's home is refused before connecting");
            Procs.OwnedBy(home.Home).Should().BeEmpty("no daemon was started for the home");
        }
        finally
        {
            listener.Kill();
            await listener.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Env_values_never_appear_in_any_output_or_file_of_the_daemon()
    {
        await using var home = new TestHome();
        var g = Guid.NewGuid().ToString("N");
        var secret = $"s3cr3t-{g}";
        var fileSecret = $"f1l3-s3cr3t-{g}";
        File.WriteAllText(Path.Combine(home.Configs, "secret.env"), $"# app secrets\nexport FILE_SECRET=\"{fileSecret}\"\n");
        // The app prints nothing about its env; it throws when asked to (a crash with evidence).
        File.WriteAllText(Path.Combine(home.Configs, "quiet.js"), """
            'use strict';
            const fs = require('fs');
            const path = require('path');
            console.log(`quiet ${process.pid}: up`);
            const trigger = path.join(__dirname, 'crash-now');
            setInterval(() => {
              if (fs.existsSync(trigger)) { fs.unlinkSync(trigger); throw new Error('asked to crash'); }
            }, 50);
            """);
        var config = home.WriteConfig($"""
            [[app]]
            name = "quiet"
            script = "quiet.js"
            env = {"{"} SECRET = "{secret}", PLAIN = "visible" {"}"}
            env_file = "secret.env"
            min_uptime = "300ms"
            """);

        var outputs = new List<NkResult>();
        async Task<NkResult> Nk(params string[] args)
        {
            var sw = Stopwatch.StartNew();
            var r = await home.RunAsync(args);
            output.WriteLine($"nk {string.Join(' ', args)}: exit {r.Code} in {sw.ElapsedMilliseconds} ms");
            r.Code.Should().Be(0, $"nk {string.Join(' ', args)}: {r}");
            outputs.Add(r);
            return r;
        }

        await Nk("start", config);
        var first = await home.InstanceAsync("quiet");
        var environ = Procs.Environ(first.Pid!.Value);
        environ.Should().Contain("SECRET", secret).And.Contain("FILE_SECRET", fileSecret).And.Contain("PLAIN", "visible");
        await Nk("status");
        await Nk("status", "--json");
        await Nk("describe", "quiet");
        (await Nk("describe", "quiet", "--json")).Out.Should().Contain("\"SECRET\"", "env keys are shown, their values not");
        await Nk("why", "quiet");
        // A positive control: the values are there to be found when asked for, so the search below can find a leak.
        var shown = await home.OkAsync("describe", "quiet", "--show-env");
        shown.Out.Should().Contain(secret).And.Contain(fileSecret);

        File.WriteAllText(Path.Combine(home.Configs, "crash-now"), "");
        var back = await home.WaitForAsync("quiet", i => i.Restarts >= 1 && i.Status == "online" && i.Pid != first.Pid, "restarted after its crash");
        back.LastExit!.Reason.Should().Be("crash");
        (await Nk("describe", "quiet", "--json")).Out.Should().Contain("asked to crash", "the crash's evidence is kept");
        await Nk("why", "quiet");
        await Nk("why", "quiet", "--json");
        await Nk("reload", "quiet");
        await Nk("save");
        await Nk("logs", "quiet", "--lines", "50");
        await Nk("status", "--json");
        await Nk("restart", "quiet");
        var last = await home.InstanceAsync("quiet");
        var cmdline = File.ReadAllText($"/proc/{last.Pid}/cmdline");

        var leaks = new List<string>();
        foreach (var (r, i) in outputs.Select((r, i) => (r, i)))
            foreach (var s in new[] { secret, fileSecret })
                if (r.Out.Contains(s) || r.Err.Contains(s)) leaks.Add($"output of command {i}: {r}");
        if (cmdline.Contains(secret) || cmdline.Contains(fileSecret)) leaks.Add($"the app's command line (readable by every user): {cmdline}");
        var files = Directory.GetFiles(home.Home, "*", SearchOption.AllDirectories);
        files.Should().Contain(f => f.EndsWith("dump.json")).And.Contain(f => f.EndsWith("daemon.log")).And.Contain(f => f.EndsWith("state.json"));
        var keepers = new[] { "state.json", "dump.json" };
        // The socket cannot be read, and the lock (empty) is held by the daemon.
        foreach (var f in files.Where(f => Path.GetFileName(f) is not ("nk.sock" or "nk.lock")))
        {
            string text;
            // state.json is written to a temporary file and renamed: one listed a moment ago may be state.json now.
            try { text = File.ReadAllText(f); }
            catch (FileNotFoundException) when (f.EndsWith(".tmp", StringComparison.Ordinal)) { continue; }
            if (text.Contains(fileSecret)) leaks.Add($"{f} holds the env_file value");
            // The live state and the dump must bring the app back with its env (resurrect, a crashed daemon's
            // successor): the `env` table is kept there, readable by the owner alone. Nowhere else.
            if (text.Contains(secret))
            {
                if (keepers.Contains(Path.GetFileName(f))) File.GetUnixFileMode(f).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite, f);
                else leaks.Add($"{f} holds the env value");
                output.WriteLine($"the env value is kept in {f} ({Octal(File.GetUnixFileMode(f))})");
            }
        }
        output.WriteLine($"searched {outputs.Count} command outputs and {files.Length} files under the home ({string.Join(", ", files.Select(Path.GetFileName))})");
        leaks.Should().BeEmpty();
    }

    [Fact]
    public async Task App_names_that_could_leave_the_log_folder_are_refused_by_the_config_and_by_the_daemon()
    {
        await using var home = new TestHome();
        string[] bad = ["../x", "a/b", "..", ".", "../../etc/passwd", "", "x\\ny", "a\\\\b", new string('n', 65)];
        var failures = new List<string>();
        foreach (var name in bad)
        {
            var config = home.WriteConfig($"[[app]]\nname = \"{name}\"\nscript = \"{Repo.Example("worker.js")}\"\n", "names.toml");
            var r = await home.RunAsync("start", config);
            var first = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
            if (r.Code != 2 || !Regex.IsMatch(first, @"^(.*/)?names\.toml:2:8: name\b"))
                failures.Add($"name \"{name}\": exit {r.Code}, stderr: {r.Err.Trim()}");
            if (r.Code == 0) await home.RunAsync("delete", "all");
        }
        output.WriteLine($"{bad.Length} names tried; not refused with exit 2 and file:line:col: {failures.Count}\n{string.Join("\n", failures)}");

        // The daemon refuses such names too, whatever a client sends over the socket.
        await home.OkAsync("status");
        var g = Guid.NewGuid().ToString("N")[..8];
        string[] raw = [$"../escape-{g}", "..", ".", "...", "a/b", "x\ny", "", "-x", "all", new string('n', 65)];
        using (var conn = await SocketAbuseTests.Raw.ConnectAsync(home.Home))
        {
            var id = 0;
            foreach (var name in raw)
            {
                var spec = new AppSpec
                {
                    Name = name, Script = Repo.Example("worker.js"), Cwd = home.Configs,
                    Log = new LogSpec(Path.Combine(home.Logs, $"{name}.out.log"), Path.Combine(home.Logs, $"{name}.err.log"), 10 << 20, 5, false),
                };
                var request = new Request { Id = ++id, Cmd = Commands.Start, Apps = [spec], ConfigPath = Path.Combine(home.Configs, "raw.toml") };
                await conn.SendAsync([.. JsonSerializer.SerializeToUtf8Bytes(request, ProtocolJson.Default.Request), (byte)'\n']);
                var answer = JsonSerializer.Deserialize((await conn.ReadLineAsync(TimeSpan.FromSeconds(10)))!, ProtocolJson.Default.Response)!;
                answer.Ok.Should().BeFalse($"the daemon refuses the app name \"{name}\"");
                answer.Error.Should().StartWith("invalid app name");
            }
            // A null app, which the JSON layer lets through, is refused as well.
            await conn.SendAsync("{\"id\":99,\"cmd\":\"start\",\"apps\":[null]}\n");
            (await conn.ReadLineAsync(TimeSpan.FromSeconds(10))).Should().Contain("\"ok\":false").And.Contain("invalid app name");
        }
        (await home.StatusAsync()).Should().BeEmpty("no app was taken on");
        File.Exists(Path.Combine(home.Home, $"escape-{g}.out.log")).Should().BeFalse();

        // Log paths are the user's choice: a relative one resolves against the config folder, even upwards.
        var outside = Path.GetFullPath(Path.Combine(home.Configs, "..", $"{g}-out.log"));
        try
        {
            var config = home.WriteConfig(TestHome.App("ok.name-1_x", "worker.js", $"env = {{ TICK_MS = \"100\" }}\nlog = {{ out = \"../{g}-out.log\" }}"));
            await home.OkAsync("start", config);
            await Eventually.Until(() => File.Exists(outside) && File.ReadAllText(outside).Contains("job 1 done"), TimeSpan.FromSeconds(10), $"the app's output in {outside}");
        }
        finally
        {
            await home.RunAsync("kill");
            File.Delete(outside);
        }
        failures.Should().BeEmpty("every one of these names is refused by the config loader with exit 2 and file:line:col");
    }

    [Fact]
    public async Task No_shell_ever_interprets_a_config_value()
    {
        await using var home = new TestHome();
        var g = Guid.NewGuid().ToString("N")[..12];
        var pwned = Enumerable.Range(1, 9).Select(i => $"/tmp/pwned{i}-{g}").ToArray();
        string[] args =
        [
            $"$(touch {pwned[0]})", $"; touch {pwned[1]}", "`id`", $"| touch {pwned[2]}", $"&& touch {pwned[3]}",
            $"> {pwned[4]}", "a b", "it's", "\"dq\"", "*", "~", "$HOME", "\\n", " ", "trail\\", "\\\"q", "tab\there", "ünï €",
        ];
        string[] nodeArgs = [$"--title=$(touch {pwned[5]})`id`", "--no-warnings"];
        var envValue = $"$(touch {pwned[6]}) `touch {pwned[7]}`; touch {pwned[8]}";
        // The script's folder and name hold spaces, a `;` and a `$(…)`: a shell would run `touch` in its cwd.
        var dir = Directory.CreateDirectory(Path.Combine(home.Configs, "with space; touch pwned-dir $(touch pwned-sub)"));
        var script = Path.Combine(dir.FullName, "argv; touch pwned-name.js");
        File.WriteAllText(script, """
            'use strict';
            console.log('NK_ARGV ' + JSON.stringify({ argv: process.argv.slice(2), execArgv: process.execArgv, script: process.argv[1], shelly: process.env.SHELLY }));
            setInterval(() => {}, 1000);
            """);
        var config = home.WriteConfig($"""
            [[app]]
            name = "lit"
            script = {Toml(script)}
            args = [{string.Join(", ", args.Select(Toml))}]
            node_args = [{string.Join(", ", nodeArgs.Select(Toml))}]
            env = {"{"} SHELLY = {Toml(envValue)} {"}"}
            max_open_files = 4096
            """);
        try
        {
            await home.OkAsync("start", config);
            var log = await home.WaitForLogAsync("lit", "NK_ARGV ");
            var json = log.Split('\n').First(l => l.StartsWith("NK_ARGV "))["NK_ARGV ".Length..];
            output.WriteLine(json);
            var seen = JsonDocument.Parse(json).RootElement;
            seen.GetProperty("argv").EnumerateArray().Select(e => e.GetString()).Should().Equal(args, "the app gets its args literally");
            seen.GetProperty("execArgv").EnumerateArray().Select(e => e.GetString()).Should().Contain(nodeArgs);
            seen.GetProperty("script").GetString().Should().Be(script);
            seen.GetProperty("shelly").GetString().Should().Be(envValue);
            var made = pwned.Where(File.Exists)
                .Concat(Directory.GetFileSystemEntries(home.Configs, "pwned*", SearchOption.AllDirectories))
                .Concat(Directory.GetFileSystemEntries(dir.FullName, "pwned*"))
                .ToList();
            made.Should().BeEmpty("no shell ran any of these values");
        }
        finally
        {
            foreach (var p in pwned) File.Delete(p);
        }
    }

    private static string Octal(UnixFileMode m) => Convert.ToString((int)m, 8).PadLeft(4, '0');

    /// <summary>A TOML basic string.</summary>
    private static string Toml(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n") + "\"";
}
