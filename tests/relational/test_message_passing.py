"""Tests for the message passing neural network (Gilmer et al., 2017)."""
from __future__ import annotations

import itertools

import pytest
import torch

from papers.kit.experiment import RunConfig, quoted_on_page, recorded_metrics
from papers.relational import message_passing
from papers.relational.message_passing import (ATOM_TYPES, BOND_TYPES, MPNN, EdgeNetwork, Graphs, Molecule,
                                               Set2Set, bond_energy, collate, energy_table,
                                               compare, expected_bond_count, expected_energy_from_atoms,
                                               expected_energy_without_bond_types,
                                               random_molecule, segment_softmax)


def molecules(count: int, seed: int) -> list[Molecule]:
    generator = torch.Generator().manual_seed(seed)
    return [random_molecule(generator) for _ in range(count)]


def double(graphs: Graphs) -> Graphs:
    return Graphs(graphs.nodes.double(), graphs.edges, graphs.edge_features.double(), graphs.graph,
                  graphs.num_graphs)


def small_mpnn() -> MPNN:
    torch.manual_seed(0)
    return MPNN(ATOM_TYPES, BOND_TYPES, d=8).double()


# Renumber the nodes of a batch by `perm` (new node `i` is old node `perm[i]`), keeping each graph's
# nodes together, as `Graphs` requires.
def permute_nodes(graphs: Graphs, perm: torch.Tensor) -> Graphs:
    new_index = torch.empty_like(perm)
    new_index[perm] = torch.arange(len(perm))
    return Graphs(graphs.nodes[perm], new_index[graphs.edges], graphs.edge_features, graphs.graph[perm],
                  graphs.num_graphs)


def within_graph_permutation(graph: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.cat([torch.nonzero(graph == g).squeeze(1)[torch.randperm(int((graph == g).sum()),
                                                                          generator=generator)]
                      for g in range(int(graph.max()) + 1)])


# ## Correctness against plain loops

def test_edge_network_messages_equal_a_loop_over_edges():
    torch.manual_seed(0)
    graphs = double(collate(molecules(2, 0)))
    network = EdgeNetwork(BOND_TYPES, 5).double()
    h = torch.randn(graphs.nodes.shape[0], 5, dtype=torch.float64)
    expected = torch.zeros_like(h)
    for (w, v), e in zip(graphs.edges.T.tolist(), graphs.edge_features):
        A = network.net(e).reshape(5, 5)
        expected[v] += A @ h[w]
    torch.testing.assert_close(network(h, graphs.edges, graphs.edge_features), expected)


def test_each_bond_sends_a_message_both_ways():
    graphs = collate(molecules(2, 1))
    pairs = set(map(tuple, graphs.edges.T.tolist()))
    assert all((v, w) in pairs for w, v in pairs) and len(pairs) == graphs.edges.shape[1]


def test_segment_softmax_equals_softmax_per_graph():
    scores = torch.randn(10, dtype=torch.float64) * 50
    segment = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    got = segment_softmax(scores, segment, 3)
    for g in range(3):
        torch.testing.assert_close(got[segment == g], torch.softmax(scores[segment == g], dim=0))


# Set2set on a batch equals set2set run on each graph alone, written out step by step.
def test_set2set_on_a_batch_equals_one_graph_at_a_time():
    torch.manual_seed(0)
    readout = Set2Set(4, steps=3).double()
    graph = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    h = torch.randn(9, 4, dtype=torch.float64)
    batched = readout(h, graph, 3)
    for g in range(3):
        x = h[graph == g]
        q_star, state = torch.zeros(1, 8, dtype=torch.float64), None
        for _ in range(3):
            state = readout.lstm(q_star, state)
            a = torch.softmax(x @ state[0][0], dim=0)
            q_star = torch.cat([state[0][0], a @ x])[None]
        torch.testing.assert_close(batched[g], q_star[0])


def test_bond_energy_equals_a_loop_over_bonds():
    table = energy_table()
    assert torch.equal(table, table.transpose(1, 2))
    for molecule in molecules(20, 2):
        expected = 0.0
        for (u, v), b in zip(molecule.bonds.tolist(), molecule.bond_types.tolist()):
            expected += float(table[b, molecule.atoms[u], molecule.atoms[v]])
        assert float(bond_energy(molecule, table.double())) == pytest.approx(expected, rel=1e-12)


# The floor under the baseline without bond types: the energy averaged over every assignment of bond types.
def test_expected_energy_averages_over_all_bond_type_assignments():
    table = energy_table()
    molecule = Molecule(atoms=torch.tensor([0, 3, 1, 2]), bonds=torch.tensor([[0, 1], [1, 2], [1, 3], [2, 3]]),
                        bond_types=torch.zeros(4, dtype=torch.long))
    energies = [bond_energy(Molecule(molecule.atoms, molecule.bonds, torch.tensor(types)), table)
                for types in itertools.product(range(BOND_TYPES), repeat=4)]
    torch.testing.assert_close(expected_energy_without_bond_types(molecule, table), torch.stack(energies).mean())


# The floor under the network without edges. Given the atoms, a bond joins a random pair of distinct atoms:
# averaging the expectation without bond types over every renumbering of the atoms gives the same energy per
# bond. The expected bond count is checked against the generator (standard error about 0.02).
def test_expected_energy_from_atoms_averages_over_renumberings_and_bond_counts():
    table = energy_table().double()
    molecule = Molecule(atoms=torch.tensor([0, 3, 1, 3, 2]), bonds=torch.tensor([[0, 1], [1, 2], [1, 3], [3, 4]]),
                        bond_types=torch.zeros(4, dtype=torch.long))
    per_bond = torch.stack([expected_energy_without_bond_types(Molecule(molecule.atoms[list(perm)], molecule.bonds,
                                                                        molecule.bond_types), table)
                            for perm in itertools.permutations(range(5))]).mean() / 4
    torch.testing.assert_close(expected_energy_from_atoms(molecule, table), expected_bond_count(5) * per_bond)
    generator = torch.Generator().manual_seed(11)
    for n in (5, 12):
        counts = [len(random_molecule(generator, n, n).bonds) for _ in range(1000)]
        assert sum(counts) / len(counts) == pytest.approx(expected_bond_count(n), abs=0.1)


def test_random_molecules_are_connected_without_repeated_bonds():
    for molecule in molecules(50, 3):
        n = len(molecule.atoms)
        bonds = [tuple(b) for b in molecule.bonds.tolist()]
        assert len(set(bonds)) == len(bonds) and all(u < v for u, v in bonds)
        reached, frontier = {0}, [0]
        while frontier:
            node = frontier.pop()
            for u, v in bonds:
                for a, b in ((u, v), (v, u)):
                    if a == node and b not in reached:
                        reached.add(b)
                        frontier.append(b)
        assert reached == set(range(n))


# ## Symmetries: equivariant node states, invariant readout and prediction

def test_node_states_are_equivariant_and_the_prediction_invariant():
    model = small_mpnn()
    graphs = double(collate(molecules(4, 4)))
    states, prediction = model.node_states(graphs), model(graphs)
    generator = torch.Generator().manual_seed(5)
    for _ in range(3):
        perm = within_graph_permutation(graphs.graph, generator)
        permuted = permute_nodes(graphs, perm)
        torch.testing.assert_close(model.node_states(permuted), states[perm], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(model(permuted), prediction, rtol=1e-12, atol=1e-12)


def test_set2set_is_invariant_to_node_order():
    torch.manual_seed(1)
    readout = Set2Set(6).double()
    graph = torch.tensor([0] * 5 + [1] * 7)
    h = torch.randn(12, 6, dtype=torch.float64)
    perm = within_graph_permutation(graph, torch.Generator().manual_seed(6))
    torch.testing.assert_close(readout(h[perm], graph, 2), readout(h, graph, 2), rtol=1e-12, atol=1e-12)


def test_hidden_bond_types_change_nothing_but_the_edge_features():
    batch = molecules(3, 7)
    typed, plain, none = collate(batch, "types"), collate(batch, "plain"), collate(batch, "none")
    assert torch.equal(typed.edges, plain.edges) and torch.equal(typed.nodes, plain.nodes)
    assert plain.edge_features.shape[1] == 1 and none.edges.shape[1] == 0


# ## An extensive target needs an extensive readout
#
# $G \cup G$, two disjoint copies of a molecule, has twice its energy. Set2set alone reads exactly what it
# reads from $G$ (its read is an attention-weighted mean), which is why the MPNN multiplies its output by the
# number of atoms; with that factor its prediction doubles with the energy.
def disjoint_union(molecule: Molecule) -> Molecule:
    n = len(molecule.atoms)
    return Molecule(atoms=molecule.atoms.repeat(2), bonds=torch.cat([molecule.bonds, molecule.bonds + n]),
                    bond_types=molecule.bond_types.repeat(2))


def test_prediction_on_two_disjoint_copies_doubles_like_the_energy():
    model, table = small_mpnn(), energy_table().double()
    for molecule in molecules(5, 10):
        twice = disjoint_union(molecule)
        assert float(bond_energy(twice, table)) == pytest.approx(2 * float(bond_energy(molecule, table)))
        once_graph, twice_graph = double(collate([molecule])), double(collate([twice]))
        read_once = model.readout(model.node_states(once_graph), once_graph.graph, 1)
        read_twice = model.readout(model.node_states(twice_graph), twice_graph.graph, 1)
        torch.testing.assert_close(read_twice, read_once, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(model(twice_graph), 2 * model(once_graph), rtol=1e-10, atol=1e-12)


# ## The claim in miniature: with bond types the error is far lower
#
# Quick run (300 steps, 800 molecules), the MPNN and the same network without bond types; test root mean
# squared errors. Seeds 0/1/2 at 1 thread: 1.75/1.86/1.92 with bond types against 3.83/3.79/3.86 without
# (ratio 0.46/0.49/0.50); the baseline sits at 1.08/1.05/1.09 times its floor (the best possible without bond
# types), so it is trained as far as its inputs allow. Seed 0 at 2 threads agrees with 1 thread to six digits
# (seeds 1 and 2 at 2 threads were not run: 500 s each on the loaded machine); under portable kernels, seeds
# 0/1/2: ratio 0.46/0.49/0.50, over the floor 1.08/1.05/1.09. Thresholds: ratio below 0.7, the
# baseline between 0.9 and 1.25 times its floor.
def claim_metrics(seed: int) -> dict[str, float]:
    """Test RMSE with bond types over test RMSE without them, and the baseline over its floor."""
    results = compare(RunConfig(seed=seed, quick=True), {"with": "types", "without": "plain"})
    with_types, without = results["with"]["test_rmse"], results["without"]["test_rmse"]
    return {"with": with_types, "without": without, "with_over_without": with_types / without,
            "without_over_floor": without / results["best without bond types"]["test_rmse"]}


@pytest.mark.claim
def test_mpnn_with_bond_types_beats_the_same_network_without_them():
    ratios = claim_metrics(0)
    assert ratios["with_over_without"] < 0.7
    assert 0.9 < ratios["without_over_floor"] < 1.25


# The page quotes the full run's recorded errors (means over its three seeds).
def test_page_quotes_the_recorded_errors():
    recorded = recorded_metrics(message_passing.__file__)
    for name in ("MPNN (bond types)", "no bond types", "no edges (atoms only)", "best without bond types",
                 "best from atoms only", "predict the mean"):
        assert quoted_on_page(message_passing.__file__, f"{recorded[name]['mean']:.2f}"), name


# ## Bad input

def test_bad_input_is_rejected():
    graphs = collate(molecules(2, 8))
    with pytest.raises(ValueError, match="edges must hold values in"):
        Graphs(graphs.nodes, graphs.edges + 100, graphs.edge_features, graphs.graph, graphs.num_graphs)
    with pytest.raises(ValueError, match=r"edge_features must have shape \[edges=\d+, edge_dim\]"):
        Graphs(graphs.nodes, graphs.edges, graphs.edge_features[:1], graphs.graph, graphs.num_graphs)
    with pytest.raises(ValueError, match="graph must hold values in"):
        Graphs(graphs.nodes, graphs.edges, graphs.edge_features, graphs.graph, 1)
    with pytest.raises(ValueError, match=r"graphs.edge_features must have shape \[edges, 1\]"):
        MPNN(ATOM_TYPES, 1)(graphs)
    with pytest.raises(ValueError, match="edges must be one of"):
        collate(molecules(1, 9), "bonds")
    with pytest.raises(ValueError, match="min_atoms"):
        random_molecule(torch.Generator(), min_atoms=1)
    with pytest.raises(ValueError, match="at least one step"):
        Set2Set(4, steps=0)
    with pytest.raises(ValueError, match=r"h must have shape \[nodes, 4\]"):
        Set2Set(4)(torch.zeros(3, 5), torch.zeros(3, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="same"):
        segment_softmax(torch.zeros(3), torch.zeros(2, dtype=torch.long), 1)
