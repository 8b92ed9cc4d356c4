"""How often words turn up in everyday chat, so that the pattern index anchors each pattern on the
required word ordinary messages hold least (an anchor found costs a look at its patterns).

`seen(anchors)` counts, over the everyday and figurative lines of the corpus and the training lines
(`tests/data/crisis`, `tests/data/crisis_train`; never the held-out set), the lines holding one of
the anchors: a whole word, or for a stem a word starting with it. Only a ranking: a word missing
here is taken as rare, and a wrong count costs speed, never a finding (any required word is a sound
anchor). Regenerate after the training lines change: `python -m chatserver.crisis.chatwords`.
"""

from __future__ import annotations

import json
import re
import sys
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

#: Words seen in fewer lines are left out (as rare).
AT_LEAST = 3
_BEGIN, _END = "# counts: begin\n", "# counts: end\n"

# counts: begin
_DATA = (
    "0:8 1:7 10:16 12:14 18:8 2:16 20:3 2025:7 24:3 2am:3 3:43 30:5 38:4 3am:5 3h:3 4:15 40:8 5:23 5-0:4 "
    "6:9 7:5 8:12 90:10 a:598 ab:5 aber:19 abiamo:5 about:37 abroad:4 absolutely:5 abuela:5 abuelo:3 "
    "acabei:3 acabou:5 acheve:5 acordo:4 acount:4 actualy:14 ad:5 adeso:3 adieu:3 af:8 afscheid:4 "
    "after:32 again:49 ages:3 ago:3 agora:10 aguanto:3 aguento:5 ahah:12 ahahah:4 ahora:5 ai:89 aide:8 "
    "ajudou:3 aku:4 al:108 ala:15 alcohol:4 ale:12 alemal:11 alen:6 aler:3 ales:17 algo:8 alguem:26 "
    "alguien:23 alguma:3 alivio:4 alma:3 alone:6 already:3 als:26 alten:4 altijd:3 always:4 am:14 "
    "amanha:12 amaza:9 amazato:4 amazing:5 an:53 anche:5 ancora:4 and:96 andata:3 anders:4 anestesiada:4 "
    "anfitria:5 anfitriao:4 angst:8 ani:5 animatrice:5 aniversario:3 ano:17 anos:13 another:5 anoying:3 "
    "ans:13 ansia:5 ansiedad:5 ansiedade:5 antes:9 anxiety:10 any:5 anymore:5 anyone:45 anyones:4 "
    "anything:5 ap:11 apart:3 apartamento:3 apele:3 apointment:4 apoio:3 apothek:4 apotheke:3 apres:7 "
    "aqui:19 arbeit:7 are:44 arete:3 around:6 arts:3 arzt:4 as:18 ashes:3 asking:7 at:87 atack:10 ate:11 "
    "atende:3 atrasada:3 au:27 auch:4 audio:3 auf:30 aujourd:29 aujourdhui:29 aula:6 aus:22 ausi:3 auto:6 "
    "aux:4 avais:3 avant:8 avec:25 avez:4 avo:6 avoir:9 away:15 awful:4 ayer:7 ayuda:5 baby:9 back:36 "
    "bad:8 baixo:4 bake:3 bald:3 bank:8 bas:6 bateria:13 baterie:4 batery:5 bath:3 baustele:3 be:36 "
    "beach:4 bebe:6 beber:3 because:6 bed:17 bedankt:3 before:19 begrafenis:4 bei:14 beim:13 being:4 "
    "bele:4 belisima:4 bem:18 ben:75 bene:13 benisimo:3 bent:7 berdigung:5 beser:6 besoin:4 best:7 "
    "beste:4 bet:3 beter:20 bien:37 bij:19 bijna:6 bin:56 birthday:6 bis:11 bit:18 blod:4 boa:9 body:3 "
    "boek:5 boite:3 bok:6 boked:4 bolo:3 bom:10 bon:3 bone:9 bonjour:4 bored:4 bos:23 bought:6 boulot:7 "
    "bout:3 boxes:3 brain:9 breathing:5 bridge:12 brief:4 bringt:19 broke:5 brother:10 brucke:5 brug:5 "
    "brule:3 brutal:6 buch:4 buenas:6 bueno:5 buenos:3 building:3 buonanote:5 buongiorno:3 burden:5 "
    "bury:3 bus:17 but:52 buto:5 by:16 bye:7 c:33 ca:42 cabeca:3 cabelo:5 cachet:3 cachoro:3 cada:5 "
    "cafe:15 caixa:3 cake:4 cal:11 caldo:6 caled:6 calor:14 cama:6 came:8 can:23 canal:3 canape:3 "
    "cancer:9 cancion:4 cane:4 cansaco:3 cansada:7 cant:17 canzone:3 capeli:4 capo:5 car:13 cara:3 care:6 "
    "caro:4 carta:6 casa:19 casi:7 cat:12 causa:3 cause:3 cayo:4 ce:48 cebola:3 cedo:6 celular:11 cest:24 "
    "cet:3 cetait:4 cete:19 chaleur:3 chanson:3 character:4 charger:3 charity:3 chat:19 chaud:3 che:41 "
    "chef:7 chefe:7 cheguei:5 chest:3 chez:8 chiamato:3 chien:3 childhod:3 choping:4 chorei:6 christmas:9 "
    "chu:4 chuva:3 ci:11 ciao:5 cidade:4 cita:4 citalopram:8 clas:3 clase:4 clean:3 clear:3 clif:3 "
    "closed:3 clothes:7 club:4 cofe:11 coisa:6 coking:4 col:7 cold:7 colpo:3 com:43 come:13 comentario:3 "
    "comes:4 comigo:6 como:14 comprei:7 comute:5 con:65 consulta:3 conta:3 contente:4 coracao:3 corda:3 "
    "corte:5 cortei:5 cosa:7 cosi:7 could:17 counselor:5 coupe:7 crawl:3 creve:5 crever:3 cried:5 crise:7 "
    "crisis:4 cry:4 crying:9 cuando:9 cuanto:3 cuchilo:3 cumple:3 curo:4 cut:13 cuting:4 cv:3 d:49 da:96 "
    "dad:18 dads:6 dag:11 dagen:6 dal:12 dala:8 dan:7 dank:7 danke:13 dans:26 dar:4 dark:6 das:57 dat:34 "
    "date:9 dato:3 daumen:4 davoir:3 day:43 days:13 de:562 dead:40 deadline:4 death:19 deceased:6 "
    "decision:5 declutering:3 dedo:3 dei:5 deja:4 deje:3 dejo:4 del:55 dela:16 deleted:3 dem:21 demain:9 "
    "demenagement:5 den:32 denkt:5 dentista:4 dentro:3 depois:6 depresao:5 depresie:5 depresion:26 "
    "depresione:6 depuis:8 der:64 dernier:7 derubou:3 des:24 desastre:3 desde:5 despedi:4 despido:4 "
    "despues:6 destroyed:6 destrozo:3 deto:3 detox:3 deu:4 deuil:3 deux:5 devant:3 devo:4 deze:22 di:88 "
    "dia:37 dias:18 dice:8 dich:4 did:11 didn:5 didnt:7 die:144 died:35 dies:3 diese:7 dieses:3 diet:6 "
    "dieta:4 dificil:10 dificile:3 dijo:3 dimanche:3 diner:7 dir:3 dire:4 dis:3 disapear:6 disparaitre:4 "
    "distruta:6 distruto:3 dit:22 do:80 doando:3 doctor:9 dod:55 doe:3 doei:4 doen:5 does:13 doesn:4 "
    "doesnt:5 dog:12 doing:8 dois:4 domani:9 domenica:4 domingo:4 don:18 done:32 dont:19 dopo:10 dor:12 "
    "dormi:4 dormir:25 dormire:7 dos:8 dose:14 dosis:16 down:12 dreh:3 drei:5 drie:5 drink:4 driving:5 "
    "drowning:5 du:28 dubel:3 due:6 duelo:3 dun:3 dur:5 dura:5 durch:5 during:3 dying:23 e:146 early:5 "
    "eat:3 echt:20 ecoute:3 ecrit:4 ein:22 eind:4 einde:3 eindelijk:8 eine:18 einem:3 einen:3 einer:4 "
    "einfach:6 el:103 ela:5 ele:20 elke:4 else:14 eltern:3 em:20 email:6 emails:4 embarasment:3 "
    "emojieyerol:10 emojilaugh:67 emojiskul:17 en:204 encore:14 end:21 ende:6 ending:4 endlich:9 enfin:9 "
    "enterar:3 enterement:4 entero:3 entrevista:7 envie:5 episode:5 er:15 era:7 eran:3 ereichbar:3 "
    "erhoht:3 ero:5 erste:11 ersten:4 eruit:3 ervaring:4 es:32 esa:25 esame:7 esami:5 escitalopram:3 "
    "escrito:3 ese:28 esperando:5 espero:3 esqueci:3 est:67 esta:46 estaba:3 estamos:4 estan:3 estar:5 "
    "estas:3 este:22 estou:9 estoy:51 estudar:3 et:19 etais:3 etait:9 ete:3 etre:3 eu:28 euch:7 eulogy:3 "
    "even:9 evening:5 ever:4 every:10 everyone:29 everything:16 ex:7 exam:12 examen:8 examenes:4 exams:9 "
    "exausta:3 excel:8 exercise:3 exercises:3 exhausted:4 exhausting:4 extrano:3 fa:7 face:4 facio:4 "
    "faculdade:3 fai:3 faili:4 faire:4 fais:3 fait:23 falar:3 faleceu:3 falta:8 fame:3 famile:4 familia:5 "
    "fare:3 farmacia:10 fast:6 fatal:5 fatigue:5 fato:16 faut:5 faz:9 fazer:5 feira:4 fel:33 feling:15 "
    "feliz:3 fels:7 felt:4 fenetre:3 fenster:4 feriado:3 ferias:4 ferie:3 fertig:11 fery:3 fest:3 festa:5 "
    "fet:8 few:4 fez:5 fica:3 fico:3 ficou:5 fiera:3 fiere:4 fight:4 figlio:3 fila:7 file:3 filho:3 "
    "film:46 filme:7 fim:4 fin:12 final:13 finale:7 finalmente:14 finaly:21 finde:4 finds:3 fine:15 "
    "finger:5 fini:3 finish:3 finished:9 fiquei:4 fire:3 first:23 fiz:7 flat:3 flatmate:3 flowers:3 "
    "fluoxetina:6 fluoxetine:4 focus:3 fod:4 foi:15 fois:3 fome:3 for:168 forever:3 fot:3 foto:7 fre:3 "
    "friday:7 fried:3 friend:8 friends:3 frio:6 from:24 fue:6 fuhl:7 fui:14 fuimos:3 ful:3 funciona:4 "
    "funeral:14 funerale:4 fur:24 future:3 futuro:6 ga:29 game:6 ganas:3 ganze:4 ganzen:3 gat:15 gato:17 "
    "gave:12 gef:3 gegesen:3 geh:6 gehad:4 geht:5 gehts:9 gek:5 gekilt:3 gekocht:3 geleden:3 gelopen:3 "
    "gemacht:10 gemakt:4 gen:7 genial:3 genomen:8 gente:24 gesagt:4 geschaft:3 geschniten:4 geschrieben:5 "
    "gesehen:3 geslopt:3 gestern:8 gestorben:19 get:16 geting:8 geweint:3 gewest:3 gewon:5 geworden:3 "
    "gia:3 ging:9 gioco:3 giornata:8 giorni:4 giorno:7 gisteren:7 giu:3 give:5 giving:12 gli:6 go:17 "
    "god:22 godbye:12 godnight:3 goed:17 going:73 gona:15 gone:3 gorgeous:3 got:37 gp:10 grab:4 "
    "gracias:13 grad:9 grand:8 grand-mere:4 grandad:6 grandads:3 grande:5 grandma:7 grapig:4 grateful:3 "
    "graus:3 grave:10 grazie:13 great:5 grey:4 grief:8 grieving:3 gris:4 groep:6 grond:3 group:17 "
    "groupe:9 grupe:4 grupo:34 guera:3 guitar:3 gut:16 gute:6 gym:11 ha:45 hab:80 haben:8 hace:11 hacer:3 "
    "haciendo:3 had:24 haha:16 hair:8 halfway:3 halo:3 hambre:3 hamster:7 hand:4 handy:7 hanging:6 hano:7 "
    "hapy:5 har:7 hard:14 hare:3 has:12 hasta:7 hat:41 hate:10 hauptfigur:3 have:29 having:6 hay:4 he:28 "
    "head:7 headache:4 heading:3 health:6 hear:4 heart:10 heat:6 heavy:3 heb:21 heben:5 heft:16 hel:4 "
    "hele:4 help:12 helped:7 helping:3 helpline:4 helps:5 helpt:3 hem:3 her:25 here:21 hermana:5 hes:6 "
    "het:84 heure:3 heut:8 heute:45 hi:6 hice:7 hier:35 hij:4 hike:3 hil:3 hilft:5 him:9 his:7 hit:3 "
    "hite:6 hitze:5 hj:4 ho:68 hoe:7 hofdperson:3 hoje:52 hola:3 hole:3 holiday:10 home:15 homework:5 "
    "hond:4 honestly:13 honger:3 honte:5 hop:3 hope:4 hor:4 hora:3 horas:8 horivel:5 horor:5 hororfilm:4 "
    "hospital:9 host:13 hot:4 hour:6 hours:12 house:7 how:16 hoy:46 hui:29 huis:4 huisarts:6 hund:3 "
    "hung:3 i:383 ich:141 ici:8 id:19 iederen:3 iemand:15 ieri:6 iets:5 if:46 ihn:3 ihr:12 ik:204 il:121 "
    "ils:3 im:207 imer:3 in:252 inbox:3 indo:4 infos:3 ins:3 insonia:3 instagram:9 internet:3 into:18 "
    "invisible:3 ir:5 irma:5 is:249 isnt:4 iso:5 ist:52 it:124 its:50 ive:19 j:101 ja:12 jahr:4 jahren:4 "
    "jai:81 jaja:12 jajaja:9 jajajaja:3 january:3 jar:10 javais:3 je:175 jefe:7 jemand:8 jen:3 jetais:3 "
    "jetzt:9 jeu:3 jij:3 job:22 jogar:3 jogo:6 joke:4 jour:6 journe:9 jours:8 juego:3 julie:18 jump:4 "
    "jumping:3 june:3 jusqu:4 jusqua:3 just:45 juste:5 k:29 kafe:5 kan:13 kapot:13 kaput:3 karaoke:3 "
    "kat:7 katze:5 kein:3 keine:4 kep:7 keps:3 ker:7 kids:11 kijken:3 kil:28 kiled:19 kiler:5 kiling:36 "
    "kind:3 kitchen:4 klamoten:3 klar:5 klausur:3 kleren:3 kms:16 kne:3 knife:5 knocked:3 know:17 kofie:3 "
    "kom:3 kont:5 krieg:3 kringlop:3 l:69 la:305 lach:4 lachen:7 lag:5 lang:3 langsam:4 laptop:10 las:31 "
    "lasen:4 last:44 late:8 laten:5 later:5 latste:5 lauft:3 laughed:3 laughing:7 laundry:3 lavoro:11 "
    "le:148 leave:4 leaving:3 lecture:5 leds:3 left:6 leftovers:3 leg:3 lego:4 legs:5 leker:4 lendo:4 "
    "lenterement:4 ler:5 les:46 lesame:5 let:5 leter:8 letera:3 leters:3 leto:3 letre:3 letzte:4 leve:3 "
    "level:3 levo:4 libro:8 lie:5 lieben:3 lied:3 liegt:3 life:7 lig:5 lighter:3 ligt:4 like:23 linda:6 "
    "lis:3 lisboa:3 listening:3 lit:3 literaly:13 lithium:3 live:5 livro:6 lmao:5 lo:21 lok:3 loking:3 "
    "lol:69 lonely:5 long:7 lore:4 los:23 lose:4 losing:3 lost:7 lot:5 love:5 lovely:6 low:6 luck:5 "
    "lugar:6 lui:4 lunch:3 lundi:8 lunedi:6 lunes:11 luto:6 lying:3 m:172 ma:79 mach:4 machen:3 machina:4 "
    "macht:3 made:13 madre:11 mae:11 mail:8 main:5 mais:41 maison:3 mak:4 make:7 maken:5 makes:9 makt:5 "
    "mal:28 mama:10 man:7 manana:19 manca:5 mand:3 mandag:6 mande:3 mandei:4 mange:3 manha:6 manque:4 "
    "many:5 mar:16 march:3 marche:3 mas:38 masacre:5 mata:23 matado:4 matando:15 matar:26 match:5 mate:10 "
    "matei:8 maths:6 matin:9 matina:4 mato:7 matou:4 mdr:15 me:555 meal:3 medecin:7 medica:4 medicacion:3 "
    "medicine:5 medico:18 medis:3 meditation:3 medo:4 medocs:4 meds:19 meglio:6 mehr:8 meileure:3 mein:36 "
    "meine:36 meinem:6 meinen:9 meiner:10 meio:4 mejor:11 melatonin:4 melatonina:6 melatonine:5 melhor:8 "
    "meme:11 memes:3 mensen:3 mental:5 mentre:3 mer:12 mercado:3 merci:11 mere:13 mes:22 mesage:6 mese:4 "
    "met:28 meting:15 metro:5 meu:49 meurs:10 meus:7 mg:7 mi:188 mia:30 mich:71 mieux:7 mijn:88 mim:4 "
    "mine:3 minha:48 minhas:4 mins:3 minuten:3 minutes:3 minutos:3 mio:30 mir:24 mis:18 misery:3 mit:22 "
    "mn:27 mod:3 moderador:3 moderadora:7 moderator:13 moderatore:3 moderatorin:5 moderatrice:7 moeder:8 "
    "moet:8 moi:16 mois:3 moment:4 mon:64 monat:3 monday:8 monde:7 mont:4 montag:7 month:9 months:8 "
    "morden:6 more:24 morendo:21 morer:10 moreu:16 morgen:23 mori:20 morir:7 morire:18 morning:17 moro:6 "
    "mort:20 morta:26 morte:20 morti:3 morto:20 motivo:3 mourir:13 move:8 moved:5 movil:3 moving:10 "
    "much:10 mucho:6 mudanca:3 mudanza:4 mudar:5 mude:4 mudo:3 muero:24 muerta:11 muerte:3 muerto:6 "
    "muito:14 mum:27 mums:8 muoio:13 murder:8 murdered:5 murio:14 mus:7 musica:4 muste:3 muter:7 muy:8 "
    "my:455 myself:16 n:27 na:38 nach:9 nachrichten:3 nachste:3 nacht:11 nada:17 name:3 nan:6 nao:21 "
    "nap:3 nar:19 nas:4 ne:7 nearly:12 necesito:4 ned:21 neded:3 neighbours:3 nel:9 nem:4 nemen:4 nen:4 "
    "nephew:4 nervous:7 nese:6 netflix:5 neu:5 neuen:4 never:8 new:35 news:4 next:11 nice:5 nicht:14 "
    "niente:6 niet:21 nieuwe:3 nieuws:3 night:31 nights:5 niks:6 nimt:4 ninguem:3 nix:3 no:113 nobody:4 "
    "noch:21 noche:10 noches:7 nochmal:4 nog:16 noite:11 non:20 nona:5 nono:4 normal:15 normale:3 nos:4 "
    "not:12 note:4 nothing:5 notice:3 nouveau:4 nouvele:3 nova:5 novela:6 novo:13 now:37 nu:8 nueva:4 "
    "nuit:9 nul:3 nule:3 numb:3 numeros:3 nuova:3 nuovo:7 nur:9 nurse:3 o:95 obrigada:9 of:136 ofice:7 "
    "ofline:6 ogi:36 ogni:4 oh:3 ohne:12 ok:29 okay:5 oke:3 old:18 om:18 oma:8 on:127 one:29 onibus:3 "
    "onions:4 ont:5 ontem:10 op:47 opa:8 or:5 ora:5 oral:3 ore:5 orgulho:4 orgulosa:4 os:6 otimo:3 "
    "otra:12 otro:3 ou:8 oublie:4 oude:5 our:6 out:43 outra:3 over:24 overdosed:3 overled:3 overleden:4 "
    "padre:6 pai:7 pain:3 pale:3 palestra:4 panic:7 panico:3 papa:11 par:15 para:22 paracetamol:3 "
    "parents:9 park:4 parlato:4 parle:5 pars:3 part:6 partiel:3 partiu:3 party:11 pas:24 pasa:4 pasada:3 "
    "pasado:5 pase:6 pased:8 pasei:3 paso:4 pasou:4 past:5 pastiglia:3 pastila:3 pastilas:7 paura:3 "
    "pausa:3 pause:5 peace:3 peau:4 peli:9 pelo:8 pendant:4 pensa:3 pensando:3 people:6 per:50 perdon:3 "
    "pere:8 pero:19 perso:4 person:6 persona:4 personagem:4 persone:3 pesada:7 pesado:4 pesante:4 peso:6 "
    "peur:5 pharmacie:3 pharmacy:5 phone:15 piano:5 pianta:3 pianto:4 picando:3 piedi:5 pieds:4 pil:5 "
    "pilen:4 pils:7 pin:3 pineaple:3 piscina:4 piu:11 piza:20 place:5 plan:16 plano:3 plant:7 planta:5 "
    "plantas:3 plante:3 plants:5 plate:3 playlist:5 pleure:6 pls:3 plus:20 poco:5 pont:7 ponte:16 por:65 "
    "poso:5 post:5 posto:3 pour:33 pq:4 pqp:3 pra:46 praia:4 preciso:10 premier:3 prende:3 prenez:3 "
    "pres:3 prescription:3 presentation:5 preso:8 presto:3 prete:3 prima:9 primeira:3 primeiro:3 "
    "primera:4 primo:5 printer:5 pris:7 pro:13 prof:10 profe:3 project:3 pronta:3 proper:5 protagonista:6 "
    "proud:4 prova:8 provas:4 psichiatra:4 psicologa:19 psiquiatra:8 psy:12 psychiater:6 psychiatre:3 "
    "psychiatrist:4 psycholog:5 puedo:4 puente:6 pular:4 put:9 q:34 qn:6 qu:4 qualche:3 qualcosa:3 "
    "qualcuno:16 quand:10 quando:20 quanto:6 quase:10 quasi:3 que:135 quel:6 quele:3 quelqu:9 quelques:4 "
    "quelqun:9 quem:5 quer:6 queria:3 quero:8 questa:11 questo:14 quetiapina:3 queue:6 qui:18 quiere:4 "
    "quiero:7 quiet:5 quoi:3 rain:4 ran:6 ranked:6 rather:6 rdv:4 re:15 reading:4 ready:6 realy:13 "
    "redes:3 regalo:7 remedio:14 remedios:6 repeat:3 respirazione:3 results:4 reuniao:5 reunion:7 "
    "reviens:3 revoir:6 ridere:6 rien:6 right:6 rio:3 rip:9 rir:10 rire:8 risa:8 riunione:4 road:3 rof:5 "
    "rom:9 roma:3 ropa:6 rope:6 rough:3 roupas:3 rouw:3 run:3 runing:5 s:100 sa:5 sabe:7 sad:10 safe:3 "
    "sagt:3 said:19 sair:7 sale:4 salio:3 salut:4 saluto:3 salva:3 sans:10 saturday:3 saudade:8 saude:4 "
    "saw:7 say:7 saying:7 says:8 scared:5 scatered:3 scene:5 scham:4 schamte:4 schau:3 schlafen:7 "
    "schlim:3 schol:11 schon:13 schref:3 schrok:3 schwer:5 schwester:4 scorso:3 scrito:5 se:102 sea:4 "
    "seance:3 season:5 seduta:3 segunda:6 sehen:3 sehr:3 sei:5 sein:6 seit:9 sel:3 self:5 sem:13 "
    "semaine:13 semaines:4 semana:35 semanas:4 semestre:4 sempre:9 send:6 sens:7 sent:5 senti:3 sentir:4 "
    "sento:8 senza:8 ser:5 sera:5 serai:3 serial:3 serie:21 serio:3 sertralina:13 sertraline:13 serve:4 "
    "ses:7 sesion:4 sest:5 setimana:13 seul:3 sharing:3 she:26 shes:4 shift:14 shop:6 short:3 shot:10 "
    "should:4 show:4 si:36 siamo:3 sich:7 sie:12 sieht:5 siento:9 signal:3 sin:12 since:10 sind:8 "
    "sinto:11 sister:13 sit:4 siting:4 sitz:3 six:3 slap:4 slapen:8 slep:23 sleping:5 slept:4 slow:3 "
    "slowly:5 smal:9 snijden:3 so:126 sobre:10 social:4 soeur:5 sofa:11 soir:11 soire:6 sol:5 sola:7 "
    "solo:14 some:7 someone:7 something:3 sometimes:3 son:13 song:10 sono:78 sont:5 sopa:4 sorela:5 "
    "sory:10 sou:4 soul:3 sous:6 soy:4 sozinha:4 spater:4 spel:3 spiel:3 sport:4 spreadshet:5 spring:5 "
    "sta:13 stamatina:3 stanca:3 start:7 started:5 stasera:8 stat:3 stato:6 staying:4 steh:3 sterb:3 "
    "sterbe:10 sterben:6 sterf:6 steso:3 stil:8 sto:25 stolz:4 stop:6 strugling:4 stuck:5 stuf:4 "
    "stunden:4 such:6 sueno:4 sugar:3 sugested:3 suicida:3 suicide:11 suicidio:7 suis:51 sul:14 sula:3 "
    "sule:3 sumir:9 sun:3 sunday:3 super:8 suport:3 sur:20 suspense:5 susto:6 sveglia:3 swear:3 t:56 "
    "ta:36 tabele:3 tableten:6 tag:12 tage:8 tagliata:5 take:12 tal:3 talk:5 talking:4 tan:6 tanta:3 "
    "tante:5 tanto:6 tao:10 tarde:7 tato:3 tava:3 tbh:3 te:43 tea:8 teacher:7 team:6 tegen:4 tel:6 "
    "telefon:4 telefono:9 telement:5 telephone:5 tem:7 tempo:8 temprano:3 temps:6 tengo:13 tenho:6 "
    "tentamen:4 tentamens:4 ter:3 terapeuta:4 terapia:33 tere:3 terible:3 termine:3 teror:4 terug:6 "
    "test:7 testament:3 testamento:3 text:5 than:9 thank:8 thanks:11 that:85 thats:6 the:389 them:10 "
    "therapeut:3 therapeutin:5 therapie:18 therapist:12 therapy:9 there:7 these:4 they:11 theyre:3 "
    "thing:4 things:3 think:5 thinking:3 third:4 this:144 thoughts:5 thre:3 thread:3 through:15 ti:6 "
    "tia:4 tiempo:3 tiene:6 tiera:3 tijd:3 til:6 time:35 tio:4 tip:3 tips:8 tired:14 tiro:8 to:348 "
    "toast:3 tod:3 toda:10 today:82 tode:4 todler:3 todo:18 todos:19 toen:5 tok:12 told:3 toma:5 tomar:7 "
    "tombe:3 tome:5 tomei:9 tomorow:23 tonight:22 top:4 tore:4 tot:30 total:7 tous:5 tout:17 toute:5 "
    "trabajo:5 trabalho:8 trafic:5 trafico:3 train:6 traitement:5 trampo:5 transito:3 trasloco:6 trauer:3 "
    "traurig:6 traverse:3 tre:7 trein:4 tres:17 tried:6 triste:22 trois:5 trop:17 tropo:3 trots:3 truc:3 "
    "trying:7 tschus:3 tu:11 tudo:14 tue:17 tuer:14 turno:3 tuta:3 tuti:12 tuto:10 twe:5 two:11 uber:9 "
    "ucide:6 uciso:3 ugh:8 uhr:3 uit:12 ultima:9 ultimo:6 um:70 uma:26 umzug:7 un:127 una:47 und:33 "
    "under:4 une:33 uni:7 uno:5 unos:3 uns:8 up:33 uped:3 ur:10 urlaub:6 us:5 used:4 ustedes:3 va:45 "
    "vacaciones:7 vacances:5 vacanze:4 vader:6 vado:8 vai:18 vais:17 vakantie:4 vamos:5 van:61 vanavond:3 "
    "vandag:37 vanochtend:4 vc:3 ve:25 veces:5 vel:4 vem:5 vemos:3 vendo:4 vendredi:3 vent:3 veo:3 ver:11 "
    "verabschiede:3 verabschiedet:3 verdad:4 verdrietig:5 vergadering:4 vergesen:4 vergeten:3 vergogna:3 "
    "vergonha:6 verguenza:7 verhuizing:4 vermis:3 vermordt:6 vestiti:4 vetements:3 veut:4 veux:5 vez:14 "
    "vezes:5 vi:11 via:3 vicino:3 vida:4 video:7 viel:10 viene:4 vieux:3 visiting:3 vista:4 visto:5 "
    "vitoria:3 vo:6 voce:4 voces:10 voel:7 voglio:4 voi:7 voir:3 vois:3 voiture:3 vol:5 volgende:3 "
    "volta:3 voltar:5 volte:4 volto:3 vom:10 von:19 vontade:3 vor:51 vou:48 vous:22 voy:22 vuelvo:7 "
    "vuole:3 wachten:3 wait:5 waiting:9 waker:3 walk:6 walked:6 walking:6 wana:3 want:30 wants:7 war:40 "
    "wardrobe:3 waren:4 wart:3 was:91 washing:5 wat:15 watched:4 watching:4 water:6 waves:3 way:9 we:39 "
    "wear:3 weather:4 weding:6 weg:14 wegen:8 weird:5 wek:60 wek-end:3 weken:3 wekend:28 weks:10 wel:11 "
    "welcome:3 welterusten:3 wen:15 went:13 wer:23 were:9 werk:9 what:15 whats:4 whatsap:3 when:27 "
    "where:6 while:4 who:5 whole:4 why:8 wie:20 wieder:13 wifi:7 wil:38 window:4 winter:5 wir:10 wird:6 "
    "wish:7 with:76 without:5 woche:13 wochen:5 wochenende:5 wohnung:4 won:9 wont:10 word:4 worden:3 "
    "wordt:6 work:24 working:4 world:4 worse:4 would:4 writing:5 wrong:3 wrote:9 wurd:4 wurde:3 x:7 "
    "xanax:3 xq:3 y:40 ya:18 year:11 years:11 yesterday:7 yo:3 you:50 your:8 youre:4 yourselves:4 zag:3 "
    "ze:14 zeg:3 zegt:4 zeit:3 zia:3 ziek:3 ziet:4 zijn:14 zit:5 zo:16 zombie:3 zon:3 zonder:9 zou:5 "
    "zovel:3 zu:18 zum:17 zuruck:3 zus:4 zusamen:3 zwar:5 zware:3 zwei:7 "
)
# counts: end

COUNTS: dict[str, int] = {k: int(n) for k, n in (item.split(":") for item in _DATA.split())}
_SORTED = sorted(COUNTS)


@cache
def _starting(stem: str) -> int:
    total = 0
    for key in _SORTED[bisect_left(_SORTED, stem) :]:
        if not key.startswith(stem):
            break
        total += COUNTS[key]
    return total


def seen(anchors: Iterable[tuple[str, bool]]) -> int:
    """About how many everyday lines hold one of `anchors` ((key, whole word?) pairs)."""
    return sum(COUNTS.get(key, 0) if whole else _starting(key) for key, whole in anchors)


def count(data: Path) -> Counter[str]:
    """Lines of everyday and figurative talk in `data`'s corpus and training files per word key."""
    from chatserver.crisis import index as ix
    from chatserver.crisis.patterns import collapse
    from chatserver.crisis.text import plain

    counts: Counter[str] = Counter()
    for path in sorted([*(data / "crisis").glob("*.jsonl"), *(data / "crisis_train").glob("*.jsonl")]):
        for row in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(row) if row.strip() else {}
            if item.get("category") in ("everyday", "figurative"):
                keys: set[str] = set()
                for typed in plain(item["text"]).split():
                    word = typed.strip(ix._EDGES)
                    keys.update(collapse(p) for p in {word.replace("'", ""), *ix._INSIDE.split(word)} if p)
                counts.update(keys)
    return counts


def main() -> None:
    """Rewrite this module's counts from tests/data."""
    here = Path(__file__)
    counts = count(here.resolve().parents[2] / "tests" / "data")
    items = [f"{k}:{n}" for k, n in sorted(counts.items()) if n >= AT_LEAST and re.fullmatch(r"\S+", k)]
    lines, line = [], ""
    for item in items:
        if len(line) + len(item) > 100:
            lines.append(line)
            line = ""
        line += item + " "
    lines.append(line)
    body = "_DATA = (\n" + "".join(f'    "{chunk}"\n' for chunk in lines) + ")\n"
    text = here.read_text(encoding="utf-8")
    start, end = text.index(_BEGIN) + len(_BEGIN), text.index(_END)
    here.write_text(text[:start] + body + text[end:], encoding="utf-8")
    print(f"{len(items)} words", file=sys.stderr)


if __name__ == "__main__":
    main()
