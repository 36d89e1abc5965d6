using NodeKeeper.Core.Config;
using NodeKeeper.Daemon.Captures;

namespace NodeKeeper.IntegrationTests;

/// <summary>The folders of captures on a real disk (no process): names, grouping, claimed reports, and the caps.</summary>
public sealed class CaptureStoreTests : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("nk-captures-").FullName;

    public void Dispose() => Directory.Delete(_home, recursive: true);

    [Theory]
    [InlineData("stall-0-1234-1796261898707.json", "stall", 0, 1234)]
    [InlineData("stall-2-99-1796261898707.cpuprofile", "stall", 2, 99)]
    [InlineData("heap-1-5-1796261898707.heapsnapshot", "heap", 1, 5)]
    [InlineData("report.20261203.013818.24684.0.001.json", "report", -1, 24684)]
    public void A_capture_s_name_says_its_kind_instance_and_pid(string name, string kind, int instance, int pid)
    {
        var parsed = CaptureStore.Parse(name);
        parsed.Should().NotBeNull();
        (parsed!.Value.Kind, parsed.Value.Instance, parsed.Value.Pid).Should().Be((kind, instance, pid));
    }

    [Theory]
    [InlineData(".stall-0-1-2.json.partial")]
    [InlineData("stall-0-1-2.txt")]
    [InlineData("evil-0-1-2.json")]
    [InlineData("report.2026.json")]
    public void Any_other_name_is_not_a_capture(string name) => CaptureStore.Parse(name).Should().BeNull();

    [Fact]
    public void The_caps_keep_the_newest_captures_by_count_and_by_bytes_and_a_stall_s_two_files_go_together()
    {
        var store = new CaptureStore(_home);
        var folder = store.Prepare("web");
        File.GetUnixFileMode(folder).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        for (var i = 1; i <= 5; i++)
        {
            File.WriteAllBytes(Path.Combine(folder, $"stall-0-10-{1000 + i}.json"), new byte[100]);
            File.WriteAllBytes(Path.Combine(folder, $"stall-0-10-{1000 + i}.cpuprofile"), new byte[1000]);
        }
        store.List("web").Should().HaveCount(5).And.OnlyContain(c => c.Files.Count == 2 && c.Bytes == 1100);

        store.Enforce("web", CaptureSpec.Default with { Keep = 3 }).Should().HaveCount(4);
        store.List("web").Select(c => c.At.ToUnixTimeMilliseconds()).Should().Equal(1005, 1004, 1003);

        store.Enforce("web", CaptureSpec.Default with { MaxSize = 2500 });
        store.List("web").Select(c => c.At.ToUnixTimeMilliseconds()).Should().Equal(1005, 1004);
        Directory.GetFiles(folder).Should().HaveCount(4);
    }

    [Fact]
    public void The_report_of_an_exit_is_claimed_by_its_pid_and_named_after_its_instance()
    {
        var store = new CaptureStore(_home);
        var folder = store.Prepare("api");
        File.WriteAllText(Path.Combine(folder, "report.20261203.013818.4242.0.001.json"),
            """{"header":{"reportVersion":4},"environmentVariables":{"API_TOKEN":"s3cr3t-value","PATH":"/usr/bin"},"libuv":[],"workers":[{"environmentVariables":{"API_TOKEN":"s3cr3t-value"}}]}""");
        File.WriteAllText(Path.Combine(folder, "report.20261203.013818.777.0.001.json"), "{}");
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1796261898707);

        store.ClaimReport("api", 3, 4242, at).Should().Be(Path.Combine(folder, "report-3-4242-1796261898707.json"));
        var claimed = File.ReadAllText(Path.Combine(folder, "report-3-4242-1796261898707.json"));
        claimed.Should().NotContain("s3cr3t-value", "the environment's values stay with the app").And.Contain("API_TOKEN").And.Contain("\"libuv\":[]");
        store.ClaimReport("api", 3, 4242, at).Should().BeNull("it was claimed");
        store.ClaimReport("api", 0, 1, at).Should().BeNull();
        store.List("api").Select(c => (c.Kind, c.Instance, c.Pid)).Should().BeEquivalentTo([("report", 3, 4242), ("report", -1, 777)]);
    }
}
