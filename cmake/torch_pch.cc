// Anchor for the torch precompiled header target.
namespace rib::internal { void TorchPchAnchor() {} }
