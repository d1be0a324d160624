# Homebrew formula for machine: builds the tagged source with cargo.
#
# Kept in this repository so its version moves with Cargo.toml (tests/it/packaging.rs checks
# that); copy it into a tap to publish. The release workflow (.github/workflows/release.yml)
# builds the binaries attached to the GitHub release of the same tag.
class Machine < Formula
  desc "One disposable, agent-ready Lima VM per software project"
  homepage "https://github.com/machine-dev/machine"
  url "https://github.com/machine-dev/machine.git",
      tag: "v0.1.0"
  license "MIT"
  head "https://github.com/machine-dev/machine.git", branch: "main"

  depends_on "rust" => :build
  depends_on "lima"

  def install
    system "cargo", "install", *std_cargo_args

    bash_completion.install "completions/machine.bash" => "machine"
    zsh_completion.install "completions/_machine"
    fish_completion.install "completions/machine.fish"
  end

  def caveats
    <<~EOS
      machine needs Lima 2.1.0 or newer. Check the host with:
        machine doctor
      Configuration lives in ~/.config/machine/projects.toml (optional),
      state in ~/.local/state/machine, baked disks in ~/.cache/machine.
    EOS
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/machine --version")

    ENV["MACHINE_STATE_DIR"] = (testpath/"state").to_s
    ENV["GIT_NAME"] = "Brew Test"
    ENV["GIT_EMAIL"] = "brew@example.com"
    output = shell_output("#{bin}/machine render --json")
    assert_match "\"project\": \"default\"", output
    assert_path_exists testpath/"state/default/lima.yaml"
  end
end
