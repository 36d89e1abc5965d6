using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace NodeKeeper.IntegrationTests;

/// <summary>Real node apps that really fail: the exit reason, its evidence, and what `nk why` says to change.</summary>
public sealed class DiagnosisTests
{
    private static async Task<JsonElement> WhyJsonAsync(TestHome home, string app)
    {
        var r = await home.OkAsync("why", app, "--json");
        using var doc = JsonDocument.Parse(r.Out);
        return doc.RootElement[0].Clone();
    }

    [Fact]
    public async Task An_app_out_of_heap_has_reason_oom_heap_and_why_names_the_heap_limit_and_the_key()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("hog", "heap-hog.js", "max_old_space_size = \"64M\"\nmax_restarts = 0"));
        await home.OkAsync("start", config, "--no-wait");
        var row = await home.WaitForAsync("hog", i => i.LastExit != null, "out of heap", seconds: 60);
        row.LastExit!.Reason.Should().Be("oom_heap");

        var why = await home.OkAsync("why", "hog");
        why.Out.Should().Contain("JavaScript heap out of memory").And.Contain("max_old_space_size").And.Contain("64M");
        var json = await WhyJsonAsync(home, "hog");
        var finding = json.GetProperty("findings")[0];
        finding.GetProperty("reason").GetString().Should().Be("oom_heap");
        finding.GetProperty("remedy").GetString().Should().Contain("raise max_old_space_size");
    }

    [Fact]
    public async Task An_app_leaking_file_handles_gets_its_max_open_files_and_ends_with_reason_emfile()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("fds", "fd-leaker.js", "max_open_files = 256\nmax_restarts = 0\nenv = { EVERY_MS = \"20\" }"));
        await home.OkAsync("start", config, "--no-wait");
        var pid = (await home.WaitForAsync("fds", i => i.Pid != null, "running")).Pid!.Value;
        await Procs.UntilRunsAsync(pid, "node");
        var limits = File.ReadAllLines($"/proc/{pid}/limits").Single(l => l.StartsWith("Max open files"));
        limits.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3..5].Should().Equal("256", "256");

        var row = await home.WaitForAsync("fds", i => i.LastExit != null, "out of file handles", seconds: 30);
        row.LastExit!.Reason.Should().Be("emfile");
        var why = await home.OkAsync("why", "fds");
        why.Out.Should().Contain("EMFILE").And.Contain("max_open_files (now 256)");
    }

    [Fact]
    public async Task An_app_whose_own_port_is_taken_ends_with_reason_eaddrinuse()
    {
        await using var home = new TestHome();
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;
        // Increment mode: the app listens itself, and node's own EADDRINUSE is what ends it.
        var config = home.WriteConfig(TestHome.App("web", "http-server.js", $"port = {port}\nport_mode = \"increment\"\nmax_restarts = 0"));
        await home.RunAsync("start", config);
        var row = await home.WaitForAsync("web", i => i.Status == "errored", "errored");
        row.LastExit!.Reason.Should().Be("eaddrinuse");
        (await home.OkAsync("why", "web")).Out.Should().Contain("EADDRINUSE").And.Contain($"{port}");
    }

    [Fact]
    public async Task An_app_requiring_a_missing_module_ends_with_reason_module_not_found()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("mm", "missing-module.js", "max_restarts = 0"));
        await home.RunAsync("start", config);
        var row = await home.WaitForAsync("mm", i => i.Status == "errored", "errored");
        row.LastExit!.Reason.Should().Be("module_not_found");
        var why = await home.OkAsync("why", "mm");
        why.Out.Should().Contain("nodekeeper-example-package-that-is-not-installed").And.Contain("npm ci");
    }

    [Fact]
    public async Task An_uncaught_exception_is_a_crash_with_its_message_as_evidence()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("th", "thrower.js", "max_restarts = 0"));
        await home.RunAsync("start", config);
        var row = await home.WaitForAsync("th", i => i.Status == "errored", "errored");
        row.LastExit!.Reason.Should().Be("crash");
        var json = await WhyJsonAsync(home, "th");
        var finding = json.GetProperty("findings")[0];
        finding.GetProperty("cause").GetString().Should().Be("uncaught-exception");
        finding.GetProperty("evidence").EnumerateArray().Select(e => e.GetString()).Should()
            .Contain(l => l!.Contains("TypeError: Cannot read properties of undefined (reading 'total')"))
            .And.Contain(l => l!.Contains("thrower.js"), "the first frame says where");
        (await home.OkAsync("describe", "th")).Out.Should().Contain("Cannot read properties of undefined");
    }

    [Fact]
    public async Task A_kill_from_outside_is_reason_signal_and_why_of_a_healthy_app_says_so()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js"));
        await home.OkAsync("start", config);
        (await home.OkAsync("why", "w")).Out.Should().Contain("nothing to explain");
        var pid = (await home.InstanceAsync("w")).Pid!.Value;
        Procs.Signal(pid, 9, home.Home);
        var row = await home.WaitForAsync("w", i => i.LastExit != null && i.Status == "online", "back online");
        row.LastExit!.Reason.Should().Be("signal", "SIGKILL that NodeKeeper did not send, and no OOM kill in the cgroup");
        (await home.OkAsync("why", "w")).Out.Should().Contain("SIGKILL").And.Contain("outside NodeKeeper");
    }
}
